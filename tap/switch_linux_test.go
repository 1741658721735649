//go:build linux

package tap_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/tap"
)

// framerPair is two Framers joined by a loopback TCP connection.
func framerPair(t testing.TB) (*tap.Framer, *tap.Framer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c1.Close(); c2.Close() })
	return tap.NewFramer(c1), tap.NewFramer(c2)
}

// tcpTransfer sends size pseudo-random bytes by TCP from namespace from to
// dst inside namespace to, and fails the test unless they arrive intact.
func tcpTransfer(t testing.TB, ctx context.Context, from, to *ns, dst netip.Addr, size int64) {
	t.Helper()
	var ln net.Listener
	if err := to.do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(dst, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		if c, err := ln.Accept(); err == nil {
			context.AfterFunc(ctx, func() { c.Close() })
			io.Copy(h, c)
			c.Close()
		}
		got <- [32]byte(h.Sum(nil))
	}()
	var c net.Conn
	if err := from.do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	context.AfterFunc(ctx, func() { c.Close() })
	h := sha256.New()
	if _, err := io.Copy(c, io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), size), h)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	if sum := <-got; sum != [32]byte(h.Sum(nil)) {
		t.Fatalf("%d bytes to %s: SHA-256 differs", size, dst)
	}
	c.Close()
}

type member struct {
	name string
	ns   *ns
	dev  *tap.Device
	ip   netip.Addr
	sw   *tap.Switch

	mu    sync.Mutex
	ended map[string]error
}

func newMember(t testing.TB, name string, ip string) *member {
	m := &member{name: name, ns: newNS(t), ip: netip.MustParseAddr(ip), ended: map[string]error{}}
	m.dev = m.ns.newTAP(t, tap.Config{Addrs: []netip.Prefix{netip.PrefixFrom(m.ip, 24)}, MAC: tap.StableMAC(name)})
	m.sw = tap.NewSwitch(m.dev, tap.SwitchConfig{PortEnded: func(id string, err error) {
		m.mu.Lock()
		m.ended[id] = err
		m.mu.Unlock()
	}})
	t.Cleanup(func() { m.sw.Close() })
	return m
}

func (m *member) port(id string) (tap.PortStats, bool) {
	i := slices.IndexFunc(m.sw.Ports(), func(p tap.PortStats) bool { return p.ID == id })
	if i < 0 {
		return tap.PortStats{}, false
	}
	return m.sw.Ports()[i], true
}

func link(t testing.TB, x, y *member) {
	fx, fy := framerPair(t)
	if err := x.sw.AddPort(y.name, fx); err != nil {
		t.Fatal(err)
	}
	if err := y.sw.AddPort(x.name, fy); err != nil {
		t.Fatal(err)
	}
}

// TestSwitchMesh: three members, each with a TAP device and a Switch, linked
// pairwise, form one LAN: every member pings both others (ARP floods,
// replies are learned), each switch learns the others' MACs on the right
// ports, unicast goes only to its port (a TCP transfer from a to b is not
// seen by c), and a removed port ends at both sides, forgets its MACs, and
// is not bypassed through the third member (no forwarding between ports).
func TestSwitchMesh(t *testing.T) {
	requireTAP(t)
	goroutines := runtime.NumGoroutine()
	a := newMember(t, "a", "10.99.10.1")
	b := newMember(t, "b", "10.99.10.2")
	c := newMember(t, "c", "10.99.10.3")
	link(t, a, b)
	link(t, a, c)
	link(t, b, c)
	all := []*member{a, b, c}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, x := range all {
		for _, y := range all {
			if x == y {
				continue
			}
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			if _, err := ping(pctx, x.ns, y.ip); err != nil {
				t.Fatalf("%s -> %s: %v", x.name, y.name, err)
			}
			pcancel()
		}
	}
	for _, x := range all {
		for _, y := range all {
			if x == y {
				continue
			}
			p, ok := x.port(y.name)
			if !ok || !slices.ContainsFunc(p.MACs, func(m net.HardwareAddr) bool { return m.String() == y.dev.MAC().String() }) {
				t.Errorf("%s's port %s: MACs %v, want %s's %s", x.name, y.name, p.MACs, y.name, y.dev.MAC())
			}
		}
	}

	cFromA, _ := c.port("a")
	bFromA, _ := b.port("a")
	tcpTransfer(t, ctx, a.ns, b.ns, b.ip, 16<<20)
	cFromA2, _ := c.port("a")
	bFromA2, _ := b.port("a")
	if d := bFromA2.FramesIn - bFromA.FramesIn; d < 1000 {
		t.Errorf("b got %d frames from a during 16 MiB", d)
	}
	if d := cFromA2.FramesIn - cFromA.FramesIn; d > 20 {
		t.Errorf("c got %d frames from a during a transfer to b: unicast was flooded", d)
	}

	a.sw.RemovePort("b")
	if _, ok := a.port("b"); ok {
		t.Error("a still lists port b after RemovePort")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		err, ended := b.ended["a"]
		b.mu.Unlock()
		if ended {
			// A clean end, or a reset: closing a TCP socket that still
			// holds unread frames sends RST, not FIN. (The session layer
			// will tell a clean end from an abort; raw TCP cannot.)
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("b's port a ended with %v, want nil or a reset", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b's port a did not end after a removed its port b")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := b.port("a"); ok {
		t.Error("b still lists port a after it ended")
	}
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	defer pcancel()
	if _, err := ping(pctx, a.ns, b.ip); err == nil {
		t.Error("a reached b without their link: a switch forwarded between ports")
	}
	if _, err := ping(ctx, a.ns, c.ip); err != nil {
		t.Errorf("a -> c after removing b: %v", err)
	}

	for _, x := range all {
		x.sw.Close()
		if err := x.sw.Err(); err != nil {
			t.Errorf("%s: Err after Close = %v", x.name, err)
		}
	}
	waitGoroutines(t, goroutines)
}

// TestSwitchSlowPort: a peer that never reads does not stall the others:
// frames for it are dropped and counted past its queue, while a fast port
// keeps working. Closing the device ends the switch.
func TestSwitchSlowPort(t *testing.T) {
	requireTAP(t)
	a := newMember(t, "a", "10.99.11.1")
	a.sw.Close()
	a.sw = tap.NewSwitch(a.dev, tap.SwitchConfig{QueueBytes: 32 << 10})
	b := newMember(t, "b", "10.99.11.2")
	link(t, a, b)
	stuck, nobody := net.Pipe()
	defer nobody.Close()
	if err := a.sw.AddPort("stuck", tap.NewFramer(stuck)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	link, err := a.ns.nl.LinkByName(a.dev.Name())
	if err != nil {
		t.Fatal(err)
	}
	var tx *os.File
	if err := a.ns.do(func() (err error) {
		tx, err = packetSocket(link.Attrs().Index, 0x88b5)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for range 200 { // broadcasts, paced for b's queue: flooded to both ports
		if _, err := tx.Write(ethFrame(1514, false)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := ping(ctx, a.ns, b.ip); err != nil {
		t.Fatalf("a -> b with a stuck port: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, _ := a.port("stuck")
		pb, _ := a.port("b")
		if p.Dropped > 0 && pb.FramesOut >= 200 && pb.Dropped == 0 {
			t.Logf("stuck port: %+v", p)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stuck port %+v, port b %+v: want drops on stuck, 200 frames out to b and none dropped", p, pb)
		}
		time.Sleep(10 * time.Millisecond)
	}

	a.dev.Close()
	select {
	case <-a.sw.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("switch did not end when its device closed")
	}
	if err := a.sw.Err(); err != nil {
		t.Errorf("Err after the device closed = %v, want nil", err)
	}
	if ports := a.sw.Ports(); len(ports) != 0 {
		t.Errorf("ports after the device closed: %v", ports)
	}
	if err := a.sw.AddPort("late", tap.NewFramer(new(pipeRW))); !errors.Is(err, tap.ErrSwitchClosed) {
		t.Errorf("AddPort after the end = %v, want ErrSwitchClosed", err)
	}
}

type pipeRW struct{ io.ReadWriter }

func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
