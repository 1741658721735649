package rendezvous_test

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/reachd/reachd/rendezvous"
)

// A rendezvous runs one role alone: relays scale apart from signaling.
func TestRoles(t *testing.T) {
	t.Run("turn and stun without broker", func(t *testing.T) {
		s, err := rendezvous.New(rendezvous.Config{NoBroker: true, TURNListen: "127.0.0.1:0", STUNListen: []string{"127.0.0.1:0"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := s.MQTTAddr(); got != "" {
			t.Errorf("MQTTAddr() = %q with the broker off, want empty", got)
		}
		if !s.TURNAddr().IsValid() {
			t.Fatal("TURNAddr() is not set with TURN on")
		}
		for _, a := range append(s.STUNAddrs(), s.TURNAddr()) {
			checkBinding(t, "udp", a)
		}
	})
	t.Run("broker and stun without turn", func(t *testing.T) {
		s, err := rendezvous.New(rendezvous.Config{NoTURN: true, MQTTListen: "127.0.0.1:0", STUNListen: []string{"127.0.0.1:0"}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.TURNAddr().IsValid() {
			t.Errorf("TURNAddr() = %s with TURN off, want none", s.TURNAddr())
		}
		if n := len(s.STUNAddrs()); n != 1 {
			t.Fatalf("STUNAddrs() = %v, want the one STUN address", s.STUNAddrs())
		}
		checkBinding(t, "tcp", s.STUNAddrs()[0])
		c, err := net.Dial("tcp", s.MQTTAddr())
		if err != nil {
			t.Fatalf("broker: %v", err)
		}
		c.Close()
	})
	t.Run("broker only", func(t *testing.T) {
		s, err := rendezvous.New(rendezvous.Config{NoTURN: true, MQTTListen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if len(s.STUNAddrs()) != 0 || s.TURNAddr() != (netip.AddrPort{}) {
			t.Errorf("STUNAddrs() = %v, TURNAddr() = %s: want neither", s.STUNAddrs(), s.TURNAddr())
		}
	})
	t.Run("no role", func(t *testing.T) {
		s, err := rendezvous.New(rendezvous.Config{NoBroker: true, NoTURN: true})
		if err == nil {
			s.Close()
			t.Fatal("New accepted a server with no role")
		}
		if !errors.Is(err, rendezvous.ErrInvalidConfig) {
			t.Errorf("error %v does not wrap ErrInvalidConfig", err)
		}
	})
}
