package strategy_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/strategy"
)

const (
	nodeA = "2w7uup6m44l3aoelzqtut26bjcwzs2nsh5c64g3al7kyo6cxnlca"
	nodeB = "5ta3lbzh6pyswmmuranj5s454czizz5sa4rq3dutb7q3zz26evwa"
)

// host is a node with one IPv4 interface behind its own NAT.
func host(id string, n int, nat address.NATType, delta address.DeltaType) address.Address {
	return address.Address{
		SignalOffsets: []int{0},
		IPv4: []address.Interface{{
			NetIfIndex: 2, ExternalIP: netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + n)}),
			InternalIP: netip.AddrFrom4([4]byte{10, byte(n), 0, 2}), ListenPort: 40000,
			NAT: nat, Delta: delta,
		}},
		NodeID: id, MachineID: fmt.Sprintf("%016x", n),
	}
}

var (
	allNATs   = []address.NATType{address.NATOpen, address.NATSymmetricUDPFirewall, address.NATFullCone, address.NATRestrictedCone, address.NATPortRestrictedCone, address.NATSymmetric, address.NATBlocked}
	allDeltas = []address.DeltaType{address.DeltaNA, address.DeltaEqual, address.DeltaPreserving, address.DeltaIndependent, address.DeltaDependent, address.DeltaRandom}
)

// want is the plan's contract for one strategy, stated from what the
// NAT kinds mean rather than from the code:
//   - direct reaches an open peer surely, a cone NAT's peer only through a
//     forward (possible), anything else by luck, a blocked one never;
//   - reverse is direct seen from the peer;
//   - punch needs a known NAT on both sides and, unless one side is open,
//     two predictable port allocations;
//   - relay works whenever a TURN server is configured, as the fallback.
func want(name string, self, peer address.Interface, turn bool) (skip bool, chance strategy.Chance) {
	reach := func(it address.Interface) (bool, strategy.Chance) {
		switch it.NAT {
		case address.NATOpen:
			return false, strategy.Likely
		case address.NATFullCone, address.NATRestrictedCone, address.NATPortRestrictedCone:
			return false, strategy.Possible
		case address.NATBlocked:
			return true, 0
		}
		return false, strategy.Unlikely
	}
	switch name {
	case strategy.Direct:
		return reach(peer)
	case strategy.Reverse:
		return reach(self)
	case strategy.Punch:
		if self.NAT == address.NATBlocked || peer.NAT == address.NATBlocked {
			return true, 0
		}
		if self.NAT == address.NATOpen || peer.NAT == address.NATOpen {
			return false, strategy.Likely
		}
		if self.Delta == address.DeltaRandom || peer.Delta == address.DeltaRandom {
			return true, 0
		}
		return false, strategy.Likely
	case strategy.Relay:
		return !turn, strategy.Likely
	}
	panic(name)
}

func TestPlanEveryPairOfNATAndDelta(t *testing.T) {
	for _, turn := range []bool{true, false} {
		for _, sn := range allNATs {
			for _, sd := range allDeltas {
				for _, pn := range allNATs {
					for _, pd := range allDeltas {
						self, peer := host(nodeA, 1, sn, sd), host(nodeB, 2, pn, pd)
						steps := strategy.Plan(self, peer, strategy.PlanConfig{TURN: turn})
						name := fmt.Sprintf("turn=%v/%v,%v->%v,%v", turn, sn, sd, pn, pd)
						checkPlan(t, name, steps, self.IPv4[0], peer.IPv4[0], turn)
					}
				}
			}
		}
	}
}

func checkPlan(t *testing.T, name string, steps []strategy.Step, self, peer address.Interface, turn bool) {
	t.Helper()
	if len(steps) != 4 {
		t.Fatalf("%s: %d steps, want 4", name, len(steps))
	}
	cheaper := false
	for i, st := range steps {
		sname := st.Strategy.Name()
		if sname != strategy.Names()[i] {
			t.Errorf("%s: step %d is %s, want the default order %v", name, i, sname, strategy.Names())
		}
		skip, chance := want(sname, self, peer, turn)
		if (st.Skip != "") != skip {
			t.Errorf("%s: %s skip %q, want skipped=%v", name, sname, st.Skip, skip)
			continue
		}
		if !skip && st.Chance != chance {
			t.Errorf("%s: %s chance %v, want %v", name, sname, st.Chance, chance)
		}
		if st.Fallback != (sname == strategy.Relay) {
			t.Errorf("%s: %s fallback=%v", name, sname, st.Fallback)
		}
		if !skip && sname != strategy.Relay && chance >= strategy.Possible {
			cheaper = true
		}
		if sname != strategy.Relay && st.Delay != 0 {
			t.Errorf("%s: %s has a head start of %v, want none", name, sname, st.Delay)
		}
		if sname == strategy.Relay && !skip {
			wantDelay := map[bool]int64{true: int64(strategy.FallbackHeadStart), false: 0}[cheaper]
			if int64(st.Delay) != wantDelay {
				t.Errorf("%s: relay head start %v, want %v", name, st.Delay, wantDelay)
			}
		}
	}
}

// TestPlanLabPairs spells out the pairs the NAT lab runs.
func TestPlanLabPairs(t *testing.T) {
	public := func(id string, n int) address.Address {
		a := host(id, n, address.NATOpen, address.DeltaNA)
		a.IPv4[0].InternalIP = a.IPv4[0].ExternalIP
		return a
	}
	easy := func(id string, n int) address.Address {
		return host(id, n, address.NATPortRestrictedCone, address.DeltaEqual)
	}
	hard := func(id string, n int) address.Address { return host(id, n, address.NATSymmetric, address.DeltaRandom) }
	lan := easy(nodeB, 1)
	lan.IPv4[0].InternalIP = netip.MustParseAddr("10.1.0.3")

	tests := []struct {
		name       string
		self, peer address.Address
		want       map[string]string // strategy -> "skip" or the chance
		relayDelay bool
	}{
		{"public to public", public(nodeA, 1), public(nodeB, 2),
			map[string]string{"direct": "likely", "reverse": "likely", "punch": "likely", "relay": "likely"}, true},
		{"easy to easy", easy(nodeA, 1), easy(nodeB, 2),
			map[string]string{"direct": "possible", "reverse": "possible", "punch": "likely", "relay": "likely"}, true},
		{"hard to hard", hard(nodeA, 1), hard(nodeB, 2),
			map[string]string{"direct": "unlikely", "reverse": "unlikely", "punch": "skip", "relay": "likely"}, false},
		{"easy to hard", easy(nodeA, 1), hard(nodeB, 2),
			map[string]string{"direct": "unlikely", "reverse": "possible", "punch": "skip", "relay": "likely"}, true},
		{"public to hard", public(nodeA, 1), hard(nodeB, 2),
			map[string]string{"direct": "unlikely", "reverse": "likely", "punch": "likely", "relay": "likely"}, true},
		{"same LAN", easy(nodeA, 1), lan,
			map[string]string{"direct": "likely", "reverse": "likely", "punch": "likely", "relay": "likely"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, st := range strategy.Plan(tt.self, tt.peer, strategy.PlanConfig{TURN: true}) {
				got := st.Chance.String()
				if st.Skip != "" {
					got = "skip"
				}
				if got != tt.want[st.Strategy.Name()] {
					t.Errorf("%s: %s (skip %q), want %s", st.Strategy.Name(), got, st.Skip, tt.want[st.Strategy.Name()])
				}
				if st.Fallback && (st.Delay > 0) != tt.relayDelay {
					t.Errorf("relay head start %v, want one: %v", st.Delay, tt.relayDelay)
				}
			}
		})
	}
}

// TestPlanPunchesIPv6 is issue 13's pairs: behind stateful IPv6 firewalls
// (no translation: endpoint-independent mapping, port-restricted filtering,
// delta equal), two IPv6-only hosts, or two dual-stack hosts whose IPv4
// NATs are symmetric, can punch over IPv6.
func TestPlanPunchesIPv6(t *testing.T) {
	v6 := func(a address.Address, n byte) address.Address {
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, n, 15: 2})
		a.IPv6 = []address.Interface{{NetIfIndex: 2, ExternalIP: ip, InternalIP: ip, ListenPort: 40000,
			NAT: address.NATPortRestrictedCone, Delta: address.DeltaEqual}}
		return a
	}
	hard := func(id string, n int) address.Address { return host(id, n, address.NATSymmetric, address.DeltaRandom) }
	v6only := func(id string, n byte) address.Address {
		a := v6(address.Address{SignalOffsets: []int{0}, NodeID: id, MachineID: fmt.Sprintf("%016x", n)}, n)
		return a
	}
	for _, tt := range []struct {
		name       string
		self, peer address.Address
	}{
		{"ipv6-only firewalled hosts", v6only(nodeA, 1), v6only(nodeB, 2)},
		{"dual-stack behind hard IPv4 NATs", v6(hard(nodeA, 1), 1), v6(hard(nodeB, 2), 2)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, st := range strategy.Plan(tt.self, tt.peer, strategy.PlanConfig{TURN: true}) {
				if st.Strategy.Name() == strategy.Punch && (st.Skip != "" || st.Chance != strategy.Likely) {
					t.Errorf("punch: skip %q, chance %v; want likely over IPv6", st.Skip, st.Chance)
				}
			}
		})
	}
	// A firewalled interface (no translation, not open) is known filtered:
	// direct to it is unlikely, so it holds no relay back.
	for _, st := range strategy.Plan(v6only(nodeA, 1), v6only(nodeB, 2), strategy.PlanConfig{TURN: true}) {
		switch st.Strategy.Name() {
		case strategy.Direct, strategy.Reverse:
			if st.Chance != strategy.Unlikely {
				t.Errorf("%s toward a filtered IPv6 host: %v, want unlikely", st.Strategy.Name(), st.Chance)
			}
		}
	}
	// Without IPv6 the hard pair still cannot punch.
	for _, st := range strategy.Plan(hard(nodeA, 1), hard(nodeB, 2), strategy.PlanConfig{TURN: true}) {
		if st.Strategy.Name() == strategy.Punch && st.Skip == "" {
			t.Error("two hard IPv4 NATs without IPv6: punch planned")
		}
	}
}

func TestPlanKeepsRequestOrderAndBounds(t *testing.T) {
	self, peer := host(nodeA, 1, address.NATPortRestrictedCone, address.DeltaEqual), host(nodeB, 2, address.NATOpen, address.DeltaNA)
	steps := strategy.Plan(self, peer, strategy.PlanConfig{Strategies: []string{"relay", "punch"}, TURN: false})
	if len(steps) != 2 || steps[0].Strategy.Name() != "relay" || steps[1].Strategy.Name() != "punch" {
		t.Fatalf("plan %v, want relay then punch only", steps)
	}
	if steps[0].Skip != strategy.ErrNoTURN.Error() {
		t.Errorf("relay without TURN: skip %q, want %q", steps[0].Skip, strategy.ErrNoTURN)
	}
}
