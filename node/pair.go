package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/reachd/reachd/pair"
	"github.com/reachd/reachd/service"
)

// Pairing with a short code (package pair): the node offers a code or
// joins one, and saves the peer at the other end in the address book.

// PairOffer is an open pairing offer: its code and when it expires.
type PairOffer = pair.OfferInfo

// PairEvent is a step of a pairing, as the "pair" event carries it.
type PairEvent = pair.Event

// Errors of a pairing (a wrong, used or unknown code is refused: 403).
var (
	ErrPairCode      = pair.ErrCodeSyntax
	ErrPairWrongCode = pair.ErrWrongCode
	ErrPairCodeUsed  = pair.ErrCodeUsed
	ErrPairNoOffer   = pair.ErrNoOffer
	ErrPairOwnOffer  = pair.ErrOwnOffer
	ErrPairBusy      = pair.ErrJoinRunning
	ErrPairOffers    = pair.ErrTooManyOffers
)

// pairing returns the node's pairing manager, starting it on first use.
func (n *Node) pairing() *pair.Manager {
	n.pairMu.Lock()
	defer n.pairMu.Unlock()
	if n.pairs == nil {
		m, err := pair.New(pair.Config{Self: n.ID(), Signal: n.sig, Card: n.pairCard, Paired: n.savePaired,
			OnEvent: func(ev pair.Event) { n.emit(Event{Type: EventPair, Pair: &ev}) },
			Now:     n.Now, Logger: n.cfg.Logger})
		if err != nil {
			panic(err) // every required field is set: cannot happen
		}
		n.pairs = m
	}
	return n.pairs
}

func (n *Node) closePairing() {
	n.pairMu.Lock()
	m := n.pairs
	n.pairMu.Unlock()
	if m != nil {
		m.Close()
	}
}

// Pair opens a pairing offer: a code, valid for 10 minutes and one use.
// The peer that joins with it is saved under name, or when name is empty
// under its host name (or "peer-" and the start of its node ID when that
// is not a free DNS label).
func (n *Node) Pair(ctx context.Context, name string) (PairOffer, error) {
	if name != "" && !service.ValidName(name) {
		return PairOffer{}, &service.FieldError{Field: "name", Err: fmt.Errorf("peer name %q: %w", name, ErrPeerName)}
	}
	if err := n.waitReady(ctx); err != nil {
		return PairOffer{}, err
	}
	return n.pairing().Offer(ctx, name)
}

// PairJoin completes the offer of code and saves the offering peer under
// name.
func (n *Node) PairJoin(ctx context.Context, code, name string) (Peer, error) {
	if !service.ValidName(name) {
		return Peer{}, &service.FieldError{Field: "name", Err: fmt.Errorf("peer name %q: %w", name, ErrPeerName)}
	}
	if _, err := pair.ParseCode(code); err != nil {
		return Peer{}, &service.FieldError{Field: "code", Err: err}
	}
	if err := n.waitReady(ctx); err != nil {
		return Peer{}, err
	}
	res, err := n.pairing().Join(ctx, code, name)
	if err != nil {
		return Peer{}, err
	}
	p, ok := n.book.byName(res.Name)
	if !ok {
		return Peer{}, fmt.Errorf("pairing: peer %q saved but gone from the address book", res.Name)
	}
	return p, nil
}

func (n *Node) waitReady(ctx context.Context) error {
	select {
	case <-n.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
}

// pairCard is what the node tells a peer it pairs with.
func (n *Node) pairCard() pair.Card {
	host, _ := os.Hostname()
	return pair.Card{Address: n.Address(), Host: host}
}

// savePaired saves the peer of a completed pairing in the address book.
func (n *Node) savePaired(r pair.Result) (string, error) {
	name := r.Name
	if name == "" {
		name = n.defaultPeerName(r)
	}
	p, _, err := n.PutPeer(name, r.Card.Address, "")
	if err != nil {
		return "", fmt.Errorf("pairing: save peer %s as %q: %w", r.PeerID, name, fieldCause(err))
	}
	return p.Name, nil
}

// defaultPeerName names a peer paired by an offer made without a name:
// its host name made a DNS label, unless that names another node in the
// address book; else "peer-" and the start of its node ID.
func (n *Node) defaultPeerName(r pair.Result) string {
	host := strings.ToLower(r.Card.Host)
	host, _, _ = strings.Cut(host, ".")
	host = strings.Trim(strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' {
			return c
		}
		return '-'
	}, host), "-")
	if len(host) > 63 {
		host = strings.TrimRight(host[:63], "-")
	}
	if service.ValidName(host) {
		if p, ok := n.book.byName(host); !ok || p.NodeID == r.PeerID {
			return host
		}
	}
	return "peer-" + r.PeerID[:8]
}

// IsPairRefusal reports whether err is a pairing refused for its code:
// wrong, used, or offered by nobody.
func IsPairRefusal(err error) bool {
	return errors.Is(err, pair.ErrWrongCode) || errors.Is(err, pair.ErrCodeUsed) || errors.Is(err, pair.ErrNoOffer)
}
