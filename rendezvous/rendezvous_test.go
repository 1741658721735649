package rendezvous_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

func TestNewInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  rendezvous.Config
	}{
		{name: "three stun addresses", cfg: rendezvous.Config{STUNListen: []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}}},
		{name: "turn host name", cfg: rendezvous.Config{TURNListen: "localhost:3478"}},
		{name: "turn without port", cfg: rendezvous.Config{TURNListen: "127.0.0.1"}},
		{name: "turn bad port", cfg: rendezvous.Config{TURNListen: "127.0.0.1:70000"}},
		{name: "empty turn user", cfg: rendezvous.Config{TURNUsers: map[string]string{"": "pass"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := rendezvous.New(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("New accepted an invalid config")
			}
			if !errors.Is(err, rendezvous.ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
		})
	}
}

func TestAddrs(t *testing.T) {
	s := rendezvoustest.Start(t)
	loopback := netip.MustParseAddr("127.0.0.1")
	for name, addr := range map[string]string{"mqtt": s.MQTTAddr(), "mqtt websocket": s.MQTTWSAddr()} {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || ap.Addr() != loopback || ap.Port() == 0 {
			t.Errorf("%s address %q, want 127.0.0.1 with a bound port", name, addr)
		}
	}
	if a := s.TURNAddr(); a.Addr() != loopback || a.Port() == 0 {
		t.Errorf("TURNAddr() = %s, want 127.0.0.1 with a bound port", a)
	}
	stunAddrs := s.STUNAddrs()
	if len(stunAddrs) != 2 || stunAddrs[0] == stunAddrs[1] || slices.Contains(stunAddrs, s.TURNAddr()) {
		t.Errorf("STUNAddrs() = %v, want two addresses apart from TURN's %s", stunAddrs, s.TURNAddr())
	}

	noWS, err := rendezvous.New(rendezvous.Config{MQTTListen: "127.0.0.1:0", TURNListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer noWS.Close()
	if got := noWS.MQTTWSAddr(); got != "" {
		t.Errorf("MQTTWSAddr() = %q with WebSocket off, want empty", got)
	}
}

// Every address STUNAddrs reports answers Binding requests over UDP and TCP,
// however STUN and TURN share them.
func TestSTUNAndTURNAddresses(t *testing.T) {
	port := freePort(t)
	tests := []struct {
		name       string
		stunListen []string
		turnListen string
		// stunAddrs is the expected STUNAddrs in terms of TURNAddr: true
		// means "is TURNAddr".
		stunAddrs []bool
	}{
		{name: "separate", stunListen: []string{"127.0.0.1:0", "127.0.0.1:0"}, turnListen: "127.0.0.1:0", stunAddrs: []bool{false, false}},
		{name: "turn only", turnListen: "127.0.0.1:0", stunAddrs: []bool{true}},
		{name: "turn on the primary", stunListen: []string{port, "127.0.0.1:0"}, turnListen: port, stunAddrs: []bool{true, false}},
		{name: "turn on the only one", stunListen: []string{port}, turnListen: port, stunAddrs: []bool{true}},
		{name: "port 0 is never shared", stunListen: []string{"127.0.0.1:0"}, turnListen: "127.0.0.1:0", stunAddrs: []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := rendezvous.New(rendezvous.Config{
				MQTTListen: "127.0.0.1:0",
				STUNListen: tt.stunListen,
				TURNListen: tt.turnListen,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			addrs := s.STUNAddrs()
			if len(addrs) != len(tt.stunAddrs) {
				t.Fatalf("STUNAddrs() = %v, want %d addresses", addrs, len(tt.stunAddrs))
			}
			for i, isTURN := range tt.stunAddrs {
				if (addrs[i] == s.TURNAddr()) != isTURN {
					t.Errorf("STUNAddrs()[%d] = %s, TURNAddr() = %s: want equal %v", i, addrs[i], s.TURNAddr(), isTURN)
				}
			}
			for _, a := range append(addrs, s.TURNAddr()) {
				checkBinding(t, "udp", a)
				checkBinding(t, "tcp", a)
			}
		})
	}
}

// checkBinding sends a Binding request to addr and checks that the
// XOR-MAPPED-ADDRESS is the local address it was sent from.
func checkBinding(t *testing.T, network string, addr netip.AddrPort) {
	t.Helper()
	c, err := net.DialTimeout(network, addr.String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := c.Write(req.Raw); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	var n int
	if network == "udp" {
		n, err = c.Read(buf)
	} else {
		// A TCP stream: the header holds the length.
		if _, err = io.ReadFull(c, buf[:20]); err == nil {
			n = 20 + int(binary.BigEndian.Uint16(buf[2:4]))
			_, err = io.ReadFull(c, buf[20:n])
		}
	}
	if err != nil {
		t.Fatalf("%s binding %s: %v", network, addr, err)
	}
	resp := &stun.Message{Raw: buf[:n]}
	if err := resp.Decode(); err != nil {
		t.Fatalf("%s binding %s: %v", network, addr, err)
	}
	if resp.Type != stun.BindingSuccess || resp.TransactionID != req.TransactionID {
		t.Fatalf("%s binding %s: got %s, want a success for our transaction", network, addr, resp.Type)
	}
	var mapped stun.XORMappedAddress
	if err := mapped.GetFrom(resp); err != nil {
		t.Fatalf("%s binding %s: %v", network, addr, err)
	}
	local := c.LocalAddr().String()
	if got := (&net.TCPAddr{IP: mapped.IP, Port: mapped.Port}).String(); got != local {
		t.Errorf("%s binding %s: mapped address %s, want %s", network, addr, got, local)
	}
}

// freePort returns "127.0.0.1:port" with a port that was just free on both
// UDP and TCP. Another process could take it before the test binds it; on
// this test machine nothing else binds fixed loopback ports.
func freePort(t *testing.T) string {
	t.Helper()
	for range 10 {
		uc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := uc.LocalAddr().String()
		ln, err := net.Listen("tcp4", addr)
		uc.Close()
		if err == nil {
			ln.Close()
			return addr
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatal(err)
		}
	}
	t.Fatal("no port free on both udp and tcp")
	return ""
}

func TestCloseTwice(t *testing.T) {
	s, err := rendezvous.New(rendezvous.Config{MQTTListen: "127.0.0.1:0", TURNListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewReleasesOnError(t *testing.T) {
	before := runtime.NumGoroutine()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	turnAddr := freePort(t)
	_, err = rendezvous.New(rendezvous.Config{
		MQTTListen: busy.Addr().String(), // bound last, after STUN and TURN
		STUNListen: []string{"127.0.0.1:0"},
		TURNListen: turnAddr,
	})
	if err == nil || errors.Is(err, rendezvous.ErrInvalidConfig) {
		t.Fatalf("New with the MQTT port taken: error %v, want a listen error", err)
	}
	// TURN's port is free again on both protocols.
	uc, err := net.ListenPacket("udp", turnAddr)
	if err != nil {
		t.Fatalf("turn udp port still bound: %v", err)
	}
	uc.Close()
	ln, err := net.Listen("tcp", turnAddr)
	if err != nil {
		t.Fatalf("turn tcp port still bound: %v", err)
	}
	ln.Close()
	waitGoroutines(t, before)
}
