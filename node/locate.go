package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/signaling"
)

// Locating a peer by its node ID alone: when Resolve gets a node ID that
// neither the address book nor a link knows, the node asks the peer over
// signaling, on its own brokers, for its current address (msgLocate). The
// peer answers, with an address_reply, only a node its inbound policy
// would accept; a node it would not accept gets no answer, so a stranger
// cannot tell a refusal from an absent node. The answer is signed by the
// key the node ID names (the signaling envelope) and must carry that node
// ID; it is then cut by strategy.CheckLearned like any address a peer
// tells us (learnedAddress). A node ID no broker answers fails after one
// signaling round trip plus locateGrace, not after a race.

// msgLocate asks a node that may not know us for its current address; the
// answer is msgAddressReply (node/peerlink.go).
var msgLocate = signaling.NewType[struct{}]("locate")

// ErrNoAnswer: a bare node ID that no node answered for over signaling.
var ErrNoAnswer = errors.New("no node with this ID answered (it is offline, on none of this node's brokers, or its policy does not accept this node)")

const (
	// locateGrace is how long a lookup waits for the peer's answer past
	// one signaling round trip of ours (an echo to ourselves through the
	// same brokers), or twice that round trip when longer: the peer may
	// sit farther from the broker than we do.
	locateGrace = 500 * time.Millisecond
	// locateMax bounds a lookup whose round trip cannot be measured.
	locateMax = 3 * time.Second
	// locatedTTL is how long an address learnt by a lookup is reused.
	locatedTTL = 5 * time.Minute
	// locatedMax bounds the addresses kept from lookups.
	locatedMax = 256
)

// located keeps the addresses lookups learnt, for locatedTTL.
type located struct {
	mu      sync.Mutex
	entries map[string]locatedEntry
}

type locatedEntry struct {
	addr address.Address
	at   time.Time
}

func (l *located) get(id string, now time.Time) (address.Address, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[id]
	if !ok || now.Sub(e.at) > locatedTTL {
		return address.Address{}, false
	}
	return e.addr, true
}

func (l *located) put(a address.Address, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.entries == nil {
		l.entries = make(map[string]locatedEntry)
	}
	if _, ok := l.entries[a.NodeID]; !ok && len(l.entries) >= locatedMax {
		for id, e := range l.entries { // drop the expired, else any one
			if now.Sub(e.at) > locatedTTL {
				delete(l.entries, id)
			}
		}
		for id := range l.entries {
			if len(l.entries) < locatedMax {
				break
			}
			delete(l.entries, id)
		}
	}
	l.entries[a.NodeID] = locatedEntry{addr: a, at: now}
}

// locate asks the node id for its current address over signaling. It
// fails with ErrNoAnswer when no answer comes within one signaling round
// trip plus locateGrace.
func (n *Node) locate(ctx context.Context, id string) (address.Address, error) {
	if a, ok := n.located.get(id, time.Now()); ok {
		return a, nil
	}
	if id == n.ID() {
		return address.Address{}, ErrSelf
	}
	if identity.ValidNodeID(id) != nil {
		// Syntax right, but no Ed25519 key: no node can own it.
		return address.Address{}, fmt.Errorf("node ID %s: %w", id, ErrNoAnswer)
	}
	if err := n.awaitReady(ctx); err != nil {
		return address.Address{}, err
	}
	self, ok := n.selfAddress()
	if !ok {
		return address.Address{}, ErrNotReady
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, locateMax)
	type answer struct {
		m   *signaling.Message
		err error
	}
	answers := make(chan answer, 1)
	rtts := make(chan time.Duration, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	start := time.Now()
	wg.Go(func() {
		m, err := n.sig.Request(ctx, signaling.Peer{NodeID: id}, msgLocate, struct{}{})
		answers <- answer{m, err}
	})
	wg.Go(func() {
		// Our own round trip through the brokers the request took.
		if rtt, _, err := n.sig.Echo(ctx, signaling.Peer{NodeID: n.ID()}); err == nil {
			rtts <- rtt
		}
	})
	var expire <-chan time.Time
	noAnswer := func() (address.Address, error) {
		n.log.Info("located no node by node ID", "peer", id, "after", time.Since(start).Round(time.Millisecond))
		return address.Address{}, fmt.Errorf("node ID %s: %w", id, ErrNoAnswer)
	}
	for {
		select {
		case rtt := <-rtts:
			t := time.NewTimer(max(locateGrace, 2*rtt))
			defer t.Stop()
			expire = t.C
		case <-expire:
			return noAnswer()
		case ans := <-answers:
			var remote *signaling.RemoteError
			switch {
			case errors.Is(ans.err, signaling.ErrNoReply) && parent.Err() == nil:
				return noAnswer() // locateMax passed without a round trip measured
			case errors.As(ans.err, &remote):
				return address.Address{}, fmt.Errorf("node ID %s refused to tell its address: %w", id, ans.err)
			case ans.err != nil:
				return address.Address{}, ans.err
			}
			a, err := learnedAddress(self, id, ans.m, env{n}.OnLink)
			if err != nil {
				return address.Address{}, fmt.Errorf("node ID %s: its answer: %w", id, err)
			}
			n.log.Info("located a peer by node ID over signaling", "peer", id, "after", time.Since(start).Round(time.Millisecond))
			n.located.put(a, time.Now())
			n.learnAddress(a) // an entry of this node ID without an address takes it
			return a, nil
		}
	}
}

// awaitReady waits for the node's first probe and its brokers (the
// node's readiness), until ctx ends or the node closes.
func (n *Node) awaitReady(ctx context.Context) error {
	select {
	case <-n.ready:
		return nil
	case <-n.ctx.Done():
		return ErrClosing
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
}

// answerLocate answers a node that asks for our address by our node ID
// alone, when our inbound policy would accept it (and within the per-peer
// request rate); others get no answer.
func (n *Node) answerLocate(ctx context.Context, m *signaling.Message) {
	addr := n.Address()
	if addr == "" || !n.allowed(m.From) || !n.limits.request(m.From) {
		n.logRefusal(m.From, "locate request not answered", "type", m.Type)
		return
	}
	n.sig.Reply(ctx, m, msgAddressReply, addressBody{Address: addr})
}
