package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/reachd/reachd/identity"
)

// Inbound policies: who may open connections to this node and ask it to
// dial back, punch or dial a relay.
const (
	AcceptAny       = "any"       // any node that knows the address
	AcceptAllowlist = "allowlist" // only the node IDs on the allow list
)

// ErrPolicy is returned for a policy change that is not valid.
var ErrPolicy = errors.New("invalid inbound policy")

// Policy is the node's inbound policy.
type Policy struct {
	Accept string   `json:"accept"`
	Allow  []string `json:"allow"`
}

// checkPolicy validates a policy and returns it with a sorted, deduplicated
// allow list.
func checkPolicy(p Policy) (Policy, error) {
	if p.Accept == "" {
		p.Accept = AcceptAny
	}
	if p.Accept != AcceptAny && p.Accept != AcceptAllowlist {
		return p, fmt.Errorf("%w: accept %q: want %s or %s", ErrPolicy, p.Accept, AcceptAny, AcceptAllowlist)
	}
	allow := make([]string, 0, len(p.Allow))
	for _, id := range p.Allow {
		if err := identity.ValidNodeID(id); err != nil {
			return p, fmt.Errorf("%w: allow: %w", ErrPolicy, err)
		}
		allow = append(allow, id)
	}
	slices.Sort(allow)
	p.Allow = slices.Compact(allow)
	return p, nil
}

// Policy returns the inbound policy.
func (n *Node) Policy() Policy {
	n.policyMu.Lock()
	defer n.policyMu.Unlock()
	return Policy{Accept: n.policy.Accept, Allow: slices.Clone(n.policy.Allow)}
}

// SetAccept changes the inbound policy's mode.
func (n *Node) SetAccept(mode string) (Policy, error) {
	return n.changePolicy(func(p *Policy) { p.Accept = mode })
}

// AllowPeer adds a node ID to the allow list.
func (n *Node) AllowPeer(id string) (Policy, error) {
	return n.changePolicy(func(p *Policy) { p.Allow = append(p.Allow, id) })
}

// DisallowPeer removes a node ID from the allow list; false when it was
// not on it (or when the change could not be saved, which is logged).
func (n *Node) DisallowPeer(id string) (Policy, bool) {
	removed := false
	p, err := n.changePolicy(func(p *Policy) {
		i := slices.Index(p.Allow, id)
		if removed = i >= 0; removed {
			p.Allow = slices.Delete(p.Allow, i, i+1)
		}
	})
	if err != nil {
		n.log.Error("inbound policy: not changed", "err", err)
		return n.Policy(), false
	}
	return p, removed
}

func (n *Node) changePolicy(f func(*Policy)) (Policy, error) {
	n.policyMu.Lock()
	p := Policy{Accept: n.policy.Accept, Allow: slices.Clone(n.policy.Allow)}
	f(&p)
	p, err := checkPolicy(p)
	if err == nil {
		// Saved before it applies: what the API acknowledges lasts.
		if err = n.persist.putPolicy(p); err != nil {
			err = fmt.Errorf("node: inbound policy: %w", err)
		} else {
			n.policy = p
		}
	}
	n.policyMu.Unlock()
	if err != nil {
		return Policy{}, err
	}
	n.log.Info("inbound policy", "accept", p.Accept, "allow", len(p.Allow))
	n.emit(Event{Type: EventProbe, Node: ptr(n.Info())})
	return p, nil
}

// allowed reports whether the policy lets peer in.
func (n *Node) allowed(peer string) bool {
	n.policyMu.Lock()
	defer n.policyMu.Unlock()
	if n.policy.Accept == AcceptAny {
		return true
	}
	_, found := slices.BinarySearch(n.policy.Allow, peer)
	return found
}
