package portmap

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// pcpServer answers PCP requests on loopback with answer(request); a nil
// answer sends nothing. It returns the server's port.
func pcpServer(t *testing.T, answer func(req []byte) [][]byte) uint16 {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2000)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, a := range answer(buf[:n]) {
				pc.WriteTo(a, from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port)
}

// mapAnswer is a MAP success answering req, with the given nonce.
func mapAnswer(req []byte, nonce []byte, lifetime, epoch uint32, ext netip.AddrPort) []byte {
	b := make([]byte, pcpHeaderLen+pcpMapLen)
	b[0], b[1], b[3] = pcpVersion, pcpOpMap|pcpOpReply, byte(PCPSuccess)
	binary.BigEndian.PutUint32(b[4:], lifetime)
	binary.BigEndian.PutUint32(b[8:], epoch)
	p := b[pcpHeaderLen:]
	copy(p, nonce)
	copy(p[12:20], req[pcpHeaderLen+12:pcpHeaderLen+20]) // protocol, internal port
	binary.BigEndian.PutUint16(p[18:], ext.Port())
	ip := ext.Addr().As16()
	copy(p[20:], ip[:])
	return b
}

func newTestPCP(port uint16) *pcpClient {
	lo := netip.MustParseAddr("127.0.0.1")
	return &pcpClient{gw: Gateway{IP: lo, Local: lo}, now: time.Now, first: 20 * time.Millisecond, port: port}
}

// TestPCPClient: the client resends until answered, ignores answers to
// other requests (another nonce), keeps its nonce across a renewal, and
// reports a refusal and a NAT-PMP-only server as errors.
func TestPCPClient(t *testing.T) {
	ext := netip.MustParseAddrPort("203.0.113.11:40000")
	var mu sync.Mutex
	var nonces [][12]byte
	requests := 0
	port := pcpServer(t, func(req []byte) [][]byte {
		mu.Lock()
		defer mu.Unlock()
		requests++
		if requests == 1 {
			return nil // lost: the client resends
		}
		if req[1] == pcpOpAnnounce {
			a := make([]byte, pcpHeaderLen)
			a[0], a[1] = pcpVersion, pcpOpAnnounce|pcpOpReply
			return [][]byte{a}
		}
		var n [12]byte
		copy(n[:], req[pcpHeaderLen:])
		nonces = append(nonces, n)
		other := make([]byte, 12)
		return [][]byte{
			mapAnswer(req, other, 1, 1, netip.MustParseAddrPort("203.0.113.99:1")), // not ours
			mapAnswer(req, n[:], 120, 7, ext),
		}
	})
	c := newTestPCP(port)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Probe(ctx); err != nil {
		t.Fatalf("probe: %v", err)
	}
	req := request{Transport: "tcp", Internal: netip.MustParseAddrPort("127.0.0.1:40000"), External: 40000, Lease: time.Hour}
	m, err := c.Map(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if m.External != ext || m.Lease != 2*time.Minute || m.Epoch != 7 || !m.HasEpoch || m.Protocol != PCP {
		t.Errorf("mapping %+v, want %v for 2m at epoch 7", m, ext)
	}
	req.Prev = &m
	if _, err := c.Map(ctx, req); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(nonces) != 2 || nonces[0] != nonces[1] || nonces[0] == [12]byte{} {
		t.Errorf("nonces %x: want one random nonce, repeated by the renewal", nonces)
	}
	mu.Unlock()

	refusing := newTestPCP(pcpServer(t, func(req []byte) [][]byte {
		a := make([]byte, pcpHeaderLen)
		a[0], a[1], a[3] = pcpVersion, req[1]|pcpOpReply, byte(PCPNotAuthorized)
		return [][]byte{a}
	}))
	if _, err := refusing.Map(ctx, req); err == nil || !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("refused map: %v, want not authorized", err)
	}
	natpmpOnly := newTestPCP(pcpServer(t, func(req []byte) [][]byte {
		return [][]byte{{0, 0x80, 0, 1, 0, 0, 0, 0}} // NAT-PMP: unsupported version
	}))
	if err := natpmpOnly.Probe(ctx); !errors.Is(err, errPCPVersion) {
		t.Errorf("probe of a nat-pmp server: %v, want %v", err, errPCPVersion)
	}
	silent := newTestPCP(pcpServer(t, func([]byte) [][]byte { return nil }))
	sctx, scancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer scancel()
	if err := silent.Probe(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("probe of a silent server: %v, want the deadline", err)
	}
}
