package strategy

import (
	"time"

	"github.com/reachd/reachd/address"
)

// Chance is how likely a strategy is to work, judged from the addresses.
type Chance int

const (
	// Unlikely: it may work, but nothing in the addresses says so (a
	// port forward behind a symmetric NAT, say). Tried; holds nothing back.
	Unlikely Chance = iota + 1
	// Possible: it works if the peer's NAT forwards or lets it through,
	// which the addresses cannot tell.
	Possible
	// Likely: the addresses say it works (an open interface, a shared LAN,
	// two predictable NATs).
	Likely
)

func (c Chance) String() string {
	switch c {
	case Unlikely:
		return "unlikely"
	case Possible:
		return "possible"
	case Likely:
		return "likely"
	}
	return "unknown"
}

// Judgement is a strategy's verdict on a pair of addresses.
type Judgement struct {
	// Skip, when not empty, says why the strategy cannot work.
	Skip   string
	Chance Chance
	// Fallback marks a costly strategy (the relay) that waits for the
	// cheaper ones to have their chance.
	Fallback bool
}

// PlanConfig is what the plan needs besides the two addresses.
type PlanConfig struct {
	// Strategies bounds the plan and orders the preference; empty means
	// every strategy in the default order.
	Strategies []string
	// TURN is whether a TURN server is configured.
	TURN bool
	// Birthday is whether we may birthday-punch a pair of a random and a
	// predictable NAT (strategy/birthday.go); otherwise the punch skips it.
	Birthday bool
}

// Step is one strategy in a plan.
type Step struct {
	Strategy Strategy
	// Skip, when not empty, says why the strategy is not tried.
	Skip   string
	Chance Chance
	// Delay is the head start the cheaper strategies get before this one
	// starts. For a Fallback step it is a floor: the step also waits while
	// Likely steps run (see the node's race).
	Delay    time.Duration
	Fallback bool
}

// Head starts of a fallback step: none when nothing cheaper runs; a short
// one when a cheaper strategy might work. The race stretches it to
// FallbackRTTs signaling round trips once it has measured one.
const (
	FallbackHeadStart = 50 * time.Millisecond
	FallbackRTTs      = 1.5
)

// Plan ranks the strategies for a connection from self to peer: in the
// order of cfg.Strategies (the preference), each judged from both
// addresses. Unknown names are left out (the caller validates them). A
// fallback step gets a head start when some cheaper step is at least
// Possible. Plan is pure.
func Plan(self, peer address.Address, cfg PlanConfig) []Step {
	names := cfg.Strategies
	if len(names) == 0 {
		names = Names()
	}
	var steps []Step
	cheaper := false
	for _, name := range names {
		s, ok := ByName(name)
		if !ok {
			continue
		}
		j := s.Judge(self, peer, cfg)
		steps = append(steps, Step{Strategy: s, Skip: j.Skip, Chance: j.Chance, Fallback: j.Fallback})
		if j.Skip == "" && !j.Fallback && j.Chance >= Possible {
			cheaper = true
		}
	}
	for i := range steps {
		if steps[i].Fallback && steps[i].Skip == "" && cheaper {
			steps[i].Delay = FallbackHeadStart
		}
	}
	return steps
}

// open reports whether an interface takes inbound connections as it is.
func open(it address.Interface) bool { return it.NAT == address.NATOpen }

// cone reports whether an interface sits behind a NAT that keeps one
// mapping per local endpoint (a port forward looks like this too).
func cone(it address.Interface) bool {
	switch it.NAT {
	case address.NATFullCone, address.NATRestrictedCone, address.NATPortRestrictedCone:
		return true
	}
	return false
}

// predictable reports whether an interface's next external port can be
// predicted for a punch.
func predictable(it address.Interface) bool {
	switch it.NAT {
	case address.NATBlocked, address.NATUnknown:
		return false
	case address.NATOpen:
		return true
	}
	return it.Delta != address.DeltaRandom && it.Delta != address.DeltaUnknown
}

// shareLAN reports whether two addresses sit behind the same NAT (an
// external IP in common).
func shareLAN(a, b address.Address) bool {
	for _, x := range append(a.IPv4[:len(a.IPv4):len(a.IPv4)], a.IPv6...) {
		for _, y := range append(b.IPv4[:len(b.IPv4):len(b.IPv4)], b.IPv6...) {
			if x.ExternalIP.IsValid() && x.ExternalIP == y.ExternalIP {
				return true
			}
		}
	}
	return false
}

// best is the highest chance any interface of list gives by f.
func best(list []address.Interface, f func(address.Interface) Chance) Chance {
	c := Chance(0)
	for _, it := range list {
		c = max(c, f(it))
	}
	return c
}

// reachable is the chance that an interface accepts a connection from
// outside: open, perhaps (a cone NAT may forward the port), or unlikely.
// An interface without translation (external IP = internal IP) that is
// not open was found filtered by a reachability check: nothing forwards
// there.
func reachable(it address.Interface) Chance {
	switch {
	case open(it):
		return Likely
	case cone(it) && it.ExternalIP != it.InternalIP:
		return Possible
	case it.NAT == address.NATBlocked:
		return 0
	}
	return Unlikely
}
