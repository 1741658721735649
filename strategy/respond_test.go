package strategy_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
	"github.com/reachd/reachd/turn"
)

// fakeEnv is a responder's node: a public address (not on loopback), a
// TURN server elsewhere, and replies recorded.
type fakeEnv struct {
	self    address.Address
	turn    []string
	replies atomic.Int32
}

func (e *fakeEnv) ID() string                              { return e.self.NodeID }
func (e *fakeEnv) Self() (address.Address, bool)           { return e.self, true }
func (e *fakeEnv) Now() time.Time                          { return time.Now() }
func (e *fakeEnv) Mapper() punch.Mapper                    { return nil }
func (e *fakeEnv) LastTCPMapping(netip.Addr) punch.Mapping { return punch.Mapping{} }
func (e *fakeEnv) TURN() []string                          { return e.turn }
func (e *fakeEnv) TURNPool() *turn.Pool                    { return nil }
func (e *fakeEnv) OnLink(netip.Addr) bool                  { return false }
func (e *fakeEnv) Logger() *slog.Logger                    { return slog.New(slog.DiscardHandler) }
func (e *fakeEnv) Expect(strategy.Ticket, string) (<-chan net.Conn, func()) {
	return nil, func() {}
}
func (e *fakeEnv) SignalingRTT(string) (time.Duration, bool) { return 0, false }
func (e *fakeEnv) Echo(context.Context, signaling.Peer) (time.Duration, error) {
	return 0, errors.New("no echo here")
}
func (e *fakeEnv) Request(context.Context, signaling.Peer, signaling.Kind, any) (*signaling.Message, error) {
	return nil, errors.New("no requests here")
}
func (e *fakeEnv) Reply(context.Context, *signaling.Message, signaling.Kind, any) error {
	e.replies.Add(1)
	return nil
}

// listener is a TCP port on loopback that counts the connections it gets:
// a target a stranger would like the node to probe.
func listener(t *testing.T) (netip.AddrPort, *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), &n
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return ap
}

func message(t *testing.T, typ, from string, body any) *signaling.Message {
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return &signaling.Message{Type: typ, ID: "1", From: from, Body: raw}
}

func responder(t *testing.T, name string) strategy.Strategy {
	s, ok := strategy.ByName(name)
	if !ok {
		t.Fatal(name)
	}
	return s
}

// TestRelayPortScanHasNoOracle is the attack of a stranger who sends relay
// requests naming loopback ports, open and closed: the node dials none of
// them, and answers both with the same fixed reason.
func TestRelayPortScanHasNoOracle(t *testing.T) {
	open, accepted := listener(t)
	closed := closedPort(t)
	env := &fakeEnv{self: host(nodeA, 1, address.NATOpen, address.DeltaNA), turn: []string{"turn://u:p@203.0.113.1:3478"}}
	relay := responder(t, strategy.Relay)
	var reasons []string
	for _, target := range []netip.AddrPort{open, closed, netip.MustParseAddrPort("10.0.0.1:22")} {
		body := map[string]string{"session": strings.Repeat("ab", 16), "relayed": target.String()}
		_, err := relay.Respond(context.Background(), env, message(t, "relay", nodeB, body))
		if !errors.Is(err, strategy.ErrForbiddenTarget) {
			t.Errorf("relay to %s: %v, want ErrForbiddenTarget", target, err)
		}
		reasons = append(reasons, strategy.Refusal(err))
	}
	if reasons[0] != reasons[1] || reasons[1] != reasons[2] {
		t.Errorf("refusals differ by target: %q", reasons)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the open loopback port got %d connections, want none", n)
	}
	if n := env.replies.Load(); n != 0 {
		t.Errorf("%d relay replies sent, want none", n)
	}
}

// TestConnectBackToLoopbackIsRefused is a stranger whose address claims a
// loopback external IP: the node does not dial it back.
func TestConnectBackToLoopbackIsRefused(t *testing.T) {
	open, accepted := listener(t)
	env := &fakeEnv{self: host(nodeA, 1, address.NATOpen, address.DeltaNA)}
	liar := host(nodeB, 2, address.NATOpen, address.DeltaNA)
	liar.IPv4[0].ExternalIP, liar.IPv4[0].InternalIP, liar.IPv4[0].ListenPort = open.Addr(), open.Addr(), open.Port()
	body := map[string]string{"session": strings.Repeat("ab", 16), "address": liar.String()}
	_, err := responder(t, strategy.Reverse).Respond(context.Background(), env, message(t, "connect_back", nodeB, body))
	if !errors.Is(err, strategy.ErrForbiddenTarget) || strategy.Refusal(err) != "not allowed" {
		t.Errorf("connect_back to loopback: %v (refusal %q), want ErrForbiddenTarget", err, strategy.Refusal(err))
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("the loopback port got %d connections, want none", n)
	}
	// The requester must send its own address.
	body["address"] = host(nodeA, 3, address.NATOpen, address.DeltaNA).String()
	_, err = responder(t, strategy.Reverse).Respond(context.Background(), env, message(t, "connect_back", nodeB, body))
	if !errors.Is(err, strategy.ErrBadRequest) {
		t.Errorf("connect_back with another node's address: %v, want ErrBadRequest", err)
	}
}

// TestPunchAtAnotherIPIsRefused is a punch whose endpoint is not in the
// sender's own address: no SYN leaves for it.
func TestPunchAtAnotherIPIsRefused(t *testing.T) {
	env := &fakeEnv{self: host(nodeA, 1, address.NATOpen, address.DeltaNA)}
	sender := host(nodeB, 2, address.NATPortRestrictedCone, address.DeltaEqual)
	for _, endpoint := range []string{"127.0.0.1:12333", "198.51.100.7:22", "[ff02::1]:80"} {
		body := map[string]any{"session": strings.Repeat("ab", 16), "address": sender.String(),
			"endpoint": endpoint, "at_ms": time.Now().Add(time.Second).UnixMilli()}
		_, err := responder(t, strategy.Punch).Respond(context.Background(), env, message(t, "punch", nodeB, body))
		if !errors.Is(err, strategy.ErrForbiddenTarget) {
			t.Errorf("punch at %s: %v, want ErrForbiddenTarget", endpoint, err)
		}
	}
	if n := env.replies.Load(); n != 0 {
		t.Errorf("%d punch replies sent, want none", n)
	}
}
