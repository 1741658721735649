package rendezvous_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/rendezvous"
)

// sourceListener answers every connection's dial-back magic with "O" and
// records the source IP of each connection it accepted.
func sourceListener(t *testing.T) (netip.AddrPort, <-chan netip.Addr) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srcs := make(chan netip.Addr, 16)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srcs <- c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("O"))
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), srcs
}

// dialedFrom asks stunAddr over TCP for a dial-back to target and returns
// the outcome and the source IP the listener saw.
func dialedFrom(t *testing.T, stunAddr string, target netip.AddrPort, srcs <-chan netip.Addr) (natprobe.DialBackOutcome, netip.Addr) {
	t.Helper()
	c, err := net.Dial("tcp4", stunAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := dialBackTCP(t, c, natprobe.DialBackRequest{Target: target, Data: []byte("RCHD")})
	if m.Type != stun.BindingSuccess {
		t.Fatalf("response %v code %d, want success", m.Type, errorCode(m))
	}
	var r natprobe.DialBackResult
	if err := r.GetFrom(m); err != nil {
		t.Fatal(err)
	}
	select {
	case ip := <-srcs:
		return r.Outcome, ip
	default:
		return r.Outcome, netip.Addr{}
	}
}

// TestDialBackFrom: a dial-back comes from DialBackFrom when it is set,
// else from the server's other IP, so a NAT that admits only the hosts its
// node has talked to is not fooled by the node's own connection.
func TestDialBackFrom(t *testing.T) {
	target, srcs := sourceListener(t)
	tests := []struct {
		name   string
		listen []string
		from   netip.Addr
		want   netip.Addr
	}{
		{"one address: its own", []string{"127.0.0.1:0"}, netip.Addr{}, netip.MustParseAddr("127.0.0.1")},
		{"two addresses: the other", []string{"127.0.0.1:0", "127.0.0.2:0"}, netip.Addr{}, netip.MustParseAddr("127.0.0.2")},
		{"set", []string{"127.0.0.1:0", "127.0.0.2:0"}, netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.3")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := rendezvous.NewSTUNServer(rendezvous.STUNConfig{Listen: tt.listen, DialBackFrom: tt.from})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			outcome, from := dialedFrom(t, srv.Addrs()[0].String(), target, srcs)
			if outcome != natprobe.DialBackAnswered || from != tt.want {
				t.Errorf("dial-back %v from %v, want answered from %v", outcome, from, tt.want)
			}
		})
	}
}

// TestDialBackOnSharedTURNAddress: the STUN address TURN serves answers a
// dial-back request (pion alone answers 420), from the STUN server's other
// address, and TURN still answers plain Binding requests there.
func TestDialBackOnSharedTURNAddress(t *testing.T) {
	target, srcs := sourceListener(t)
	port := freePort(t)
	s, err := rendezvous.New(rendezvous.Config{
		MQTTListen: "127.0.0.1:0",
		STUNListen: []string{port, "127.0.0.2:0"},
		TURNListen: port,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	shared := s.TURNAddr()
	if s.STUNAddrs()[0] != shared {
		t.Fatalf("STUNAddrs %v: want TURN's %v first", s.STUNAddrs(), shared)
	}
	outcome, from := dialedFrom(t, shared.String(), target, srcs)
	if outcome != natprobe.DialBackAnswered || from != netip.MustParseAddr("127.0.0.2") {
		t.Errorf("dial-back %v from %v, want answered from 127.0.0.2", outcome, from)
	}
	checkBinding(t, "tcp", shared)
}
