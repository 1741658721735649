package session_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/session"
)

// attacker is a peer that speaks the session protocol by hand over a
// loopback TCP path to victim (which it must be the initiator of): it
// says hello and resend, then sends what the test writes. It reads
// nothing unless told to.
type attacker struct {
	conn *net.TCPConn
}

func attack(t *testing.T, victim *session.Link, read bool) *attacker {
	return attackTB(t, victim, read)
}

func attackTB(t testing.TB, victim *session.Link, read bool) *attacker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	x, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	y := <-ch
	a := &attacker{conn: x.(*net.TCPConn)}
	t.Cleanup(func() { x.Close() })
	// Small socket buffers, so that a peer that does not read shows at
	// once, not after megabytes of kernel buffers.
	a.conn.SetReadBuffer(4 << 10)
	y.(*net.TCPConn).SetWriteBuffer(4 << 10)
	hello := append(rawHello(2, 1), binary.BigEndian.AppendUint64([]byte{0x82, 0, 0, 0, 0, 0, 0, 0, 8}, 0)...)
	if _, err := x.Write(hello); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	attached := make(chan error, 1)
	go func() { attached <- victim.Attach(ctx, y) }()
	if read {
		go io.Copy(io.Discard, x)
	} else if _, err := io.ReadFull(x, make([]byte, 9+45)); err != nil {
		// Take the victim's hello only.
		t.Fatal(err)
	}
	if err := <-attached; err != nil {
		t.Fatalf("attach: %v", err)
	}
	return a
}

// opens returns n open frames for the initiator's streams from id on.
func opens(id uint32, n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, 0x01)
		b = binary.BigEndian.AppendUint32(b, id+2*uint32(i))
		b = append(b, 0, 0, 0, 1, 0)
	}
	return b
}

// TestOpenFloodByPeerThatNeverReads: a peer opens streams past the accept
// backlog and never reads the aborts it earns. The link queues at most
// its send buffer for it, then fails saying why, instead of growing
// without bound.
func TestOpenFloodByPeerThatNeverReads(t *testing.T) {
	const sendBuffer = 64 << 10
	victim, err := session.New(session.Config{SendBuffer: sendBuffer, AcceptBacklog: 1, MaxStreams: 1 << 30}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	a := attack(t, victim, false)
	var peak int64
	id := uint32(1)
	const batch = 1000
	for sent := 0; sent < 32<<20; sent += batch * 10 {
		if _, err := a.conn.Write(opens(id, batch)); err != nil {
			break // the victim closed the path
		}
		id += 2 * batch
		peak = max(peak, victim.Stats().Unacked)
		if victim.Err() != nil {
			break
		}
	}
	select {
	case <-victim.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("the link still lives after %d opens, holding %d bytes for a peer that never reads (cap %d)", id/2, victim.Stats().Unacked, sendBuffer)
	}
	if peak > sendBuffer {
		t.Errorf("the link held %d bytes for the peer, more than its send buffer of %d", peak, sendBuffer)
	}
	if err := victim.Err(); !errors.Is(err, session.ErrBacklog) {
		t.Errorf("link failed with %v, want ErrBacklog", err)
	}
}

// TestOpensPastStreamCapEndLink: a peer that opens more streams than the
// cap at once loses its link, rather than earning an abort per open.
func TestOpensPastStreamCapEndLink(t *testing.T) {
	victim, err := session.New(session.Config{MaxStreams: 8, AcceptBacklog: 64}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	a := attack(t, victim, true)
	if _, err := a.conn.Write(opens(1, 9)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-victim.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the link still lives after 9 opens past a cap of 8")
	}
	if err := victim.Err(); !errors.Is(err, session.ErrProtocol) || !strings.Contains(err.Error(), "more than 8 streams") {
		t.Errorf("link failed with %v, want a protocol error naming the cap", err)
	}
}

// BenchmarkOpenFloodRSS floods a link of the node's default send buffer
// (8 MiB) with 64 MiB of opens from a peer that never reads, and reports
// how far the process's resident memory grew (its peak over the start).
func BenchmarkOpenFloodRSS(b *testing.B) {
	for range b.N {
		runtime.GC()
		debug.FreeOSMemory()
		before := procStatus(b, "VmRSS")
		victim, err := session.New(session.Config{SendBuffer: 8 << 20, AcceptBacklog: 1, MaxStreams: 1 << 30}, false)
		if err != nil {
			b.Fatal(err)
		}
		a := attackTB(b, victim, false)
		id := uint32(1)
		const batch = 4096
		var peak int64
		for sent := 0; sent < 64<<20 && victim.Err() == nil; sent += batch * 10 {
			if _, err := a.conn.Write(opens(id, batch)); err != nil {
				break
			}
			id += 2 * batch
			peak = max(peak, victim.Stats().Unacked)
		}
		b.ReportMetric(float64(procStatus(b, "VmHWM")-before)/(1<<20), "rss-growth-MiB")
		b.ReportMetric(float64(peak)/(1<<20), "queued-MiB")
		a.conn.Close()
		victim.Close()
	}
}

// procStatus returns a memory figure of /proc/self/status in bytes.
func procStatus(tb testing.TB, key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	tb.Fatalf("no %s in /proc/self/status", key)
	return 0
}
