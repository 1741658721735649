package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/names"
	"github.com/reachd/reachd/network"
	"github.com/reachd/reachd/service"
	"github.com/reachd/reachd/state"
)

// The address book: names for peers, each with the node ID that
// authenticates the peer and its last known address, kept in the state
// file's "peers" section. A connect that succeeds and an address a peer
// tells us on resume update the entry of that node ID.

const sectionPeers = "peers"

// Peer is an address book entry.
type Peer struct {
	Name      string    `json:"name"`
	NodeID    string    `json:"node_id"`
	Address   string    `json:"address,omitempty"` // last known; empty when none is
	UpdatedAt time.Time `json:"updated_at"`
}

// Errors of the address book and of Resolve.
var (
	// ErrPeerName: a peer name is not a DNS label.
	ErrPeerName = errors.New("a peer name is a DNS label: 1 to 63 of a-z, 0-9 and -")
	// ErrNoPeer: no address book entry has that name.
	ErrNoPeer = errors.New("no peer of that name in the address book")
	// ErrNoAddress: a node ID alone, of a peer whose address the node
	// does not know (neither the address book nor a link has it). Resolve
	// now asks the peer instead (ErrNoAnswer when none answers); the
	// sentinel stays for callers that test for it.
	ErrNoAddress = errors.New("no address is known for this node ID (not in the address book, no link with it): give its full address")
	// ErrBadPeerRef: neither an address, a node ID nor a name.
	ErrBadPeerRef = errors.New("not a peer address, a node ID or a name")
)

// Resolve sources: where Resolve found the address.
const (
	SourceAddress = "address" // the reference was a full address
	SourceBook    = "book"    // an address book entry
	SourceLink    = "link"    // the current link with the peer
	// SourceNetwork: a member of a named network that announces the host
	// name (host.network).
	SourceNetwork = "network"
	// SourceSignaling: the peer told its address when asked by node ID
	// over signaling (locate.go), now or within the last minutes.
	SourceSignaling = "signaling"
)

// book is the address book.
type book struct {
	store *state.Store
	now   func() time.Time

	mu      sync.Mutex // orders the read-modify-write of the section
	entries []Peer     // sorted by name
}

func openBook(st *state.Store, now func() time.Time) (*book, error) {
	b := &book{store: st, now: now}
	if _, err := st.Get(sectionPeers, &b.entries); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *book) list() []Peer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Peer{}, b.entries...)
}

func (b *book) byName(name string) (Peer, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.IndexFunc(b.entries, func(p Peer) bool { return p.Name == name })
	if i < 0 {
		return Peer{}, false
	}
	return b.entries[i], true
}

func (b *book) byNodeID(id string) (Peer, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.entries {
		if p.NodeID == id && p.Address != "" {
			return p, true
		}
	}
	return Peer{}, false
}

// put saves p under its name; true when the name is new.
func (b *book) put(p Peer) (Peer, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p.UpdatedAt = b.now().UTC()
	entries := slices.Clone(b.entries)
	i := slices.IndexFunc(entries, func(e Peer) bool { return e.Name == p.Name })
	created := i < 0
	if created {
		entries = append(entries, p)
	} else {
		entries[i] = p
	}
	slices.SortFunc(entries, func(a, b Peer) int { return strings.Compare(a.Name, b.Name) })
	if err := b.store.Put(sectionPeers, entries); err != nil {
		return Peer{}, false, err
	}
	b.entries = entries
	return p, created, nil
}

func (b *book) remove(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	entries := slices.DeleteFunc(slices.Clone(b.entries), func(e Peer) bool { return e.Name == name })
	if len(entries) == len(b.entries) {
		return fmt.Errorf("peer %q: %w", name, ErrNoPeer)
	}
	if err := b.store.Put(sectionPeers, entries); err != nil {
		return err
	}
	b.entries = entries
	return nil
}

// learn records addr as the last known address of every entry of its
// node ID; it reports whether any changed.
func (b *book) learn(addr address.Address) (bool, error) {
	text := addr.String()
	b.mu.Lock()
	defer b.mu.Unlock()
	var entries []Peer
	for i, p := range b.entries {
		if p.NodeID != addr.NodeID || p.Address == text {
			continue
		}
		if entries == nil {
			entries = slices.Clone(b.entries)
		}
		entries[i].Address = text
		entries[i].UpdatedAt = b.now().UTC()
	}
	if entries == nil {
		return false, nil
	}
	if err := b.store.Put(sectionPeers, entries); err != nil {
		return false, err
	}
	b.entries = entries
	return true, nil
}

// AddressBook lists the address book, by name.
func (n *Node) AddressBook() []Peer { return n.book.list() }

// PutPeer saves a peer under name, from its full address or its node ID
// alone (exactly one of the two); true when the name is new. An entry
// given a node ID alone takes the address of the current link with that
// peer, when there is one.
func (n *Node) PutPeer(name, addr, nodeID string) (Peer, bool, error) {
	if !service.ValidName(name) {
		return Peer{}, false, &service.FieldError{Field: "name", Err: fmt.Errorf("peer name %q: %w", name, ErrPeerName)}
	}
	var p Peer
	switch {
	case addr != "" && nodeID != "":
		return Peer{}, false, &service.FieldError{Field: "address", Err: errors.New("give address or node_id, not both")}
	case addr != "":
		a, err := address.Parse(addr)
		if err != nil {
			return Peer{}, false, &service.FieldError{Field: "address", Err: err}
		}
		p = Peer{Name: name, NodeID: a.NodeID, Address: a.String()}
	case nodeID != "":
		if err := address.CheckNodeID(nodeID); err != nil {
			return Peer{}, false, &service.FieldError{Field: "node_id", Err: err}
		}
		p = Peer{Name: name, NodeID: nodeID}
		if old, ok := n.book.byName(name); ok && old.NodeID == nodeID {
			p.Address = old.Address
		} else if l := n.links.Get(nodeID); l != nil {
			if a := l.Address(); a.NodeID == nodeID {
				p.Address = a.String()
			}
		}
	default:
		return Peer{}, false, &service.FieldError{Field: "address", Err: errors.New("address or node_id: required")}
	}
	if p.NodeID == n.ID() {
		field := "address"
		if nodeID != "" {
			field = "node_id"
		}
		return Peer{}, false, &service.FieldError{Field: field, Err: ErrSelf}
	}
	p, created, err := n.book.put(p)
	if err != nil {
		return Peer{}, false, err
	}
	n.log.Info("address book: peer saved", "name", p.Name, "peer", p.NodeID)
	return p, created, nil
}

// DeletePeer forgets the peer of that name.
func (n *Node) DeletePeer(name string) error {
	if err := n.book.remove(name); err != nil {
		if errors.Is(err, ErrNoPeer) {
			return &service.FieldError{Field: "name", Err: err}
		}
		return err
	}
	return nil
}

// learnAddress records a peer's address it gave us (by a connect that
// succeeded with it, or its answer on resume) in the address book.
func (n *Node) learnAddress(a address.Address) {
	changed, err := n.book.learn(a)
	if err != nil {
		n.log.Warn("address book: cannot save a peer's new address", "peer", a.NodeID, "err", err)
		return
	}
	if changed {
		n.log.Info("address book: a peer's address changed", "peer", a.NodeID)
	}
}

// Resolve turns a peer reference into an address: a name (in the address
// book, else on the name services: SourceNames), host.network (the member
// of a joined named network that announces that host name:
// SourceNetwork), a full address, or a node ID (its address from the address book,
// else from the current link with the peer, else from the peer itself,
// asked over signaling: locate.go). source says which (SourceBook,
// SourceAddress, SourceLink or SourceSignaling). A failure is a
// *service.FieldError naming field "address", wrapping ErrNoPeer,
// ErrNoAnswer (nothing known: 404) or another error (bad
// input: 400); a lookup that could not be made (no broker, not ready)
// is an error of its own.
func (n *Node) Resolve(ctx context.Context, ref string) (address.Address, string, error) {
	fail := func(err error) (address.Address, string, error) {
		return address.Address{}, "", &service.FieldError{Field: "address", Err: err}
	}
	if ref == "" {
		return fail(errors.New("required"))
	}
	if p, ok := n.book.byName(ref); ok {
		if p.Address == "" {
			if a, ok := n.linkAddress(p.NodeID); ok {
				return a, SourceLink, nil
			}
			a, err := n.locate(ctx, p.NodeID)
			switch {
			case errors.Is(err, ErrNoAnswer):
				return fail(fmt.Errorf("peer %q: %w", ref, err))
			case err != nil:
				return address.Address{}, "", err
			}
			return a, SourceSignaling, nil
		}
		a, err := address.Parse(p.Address)
		if err != nil {
			return fail(fmt.Errorf("peer %q: its saved address: %w", ref, err))
		}
		return a, SourceBook, nil
	}
	a, perr := address.Parse(ref)
	if perr == nil {
		return a, SourceAddress, nil
	}
	if len(ref) == 52 && !strings.Contains(ref, "-") {
		if err := address.CheckNodeID(ref); err != nil {
			return fail(err)
		}
		if p, ok := n.book.byNodeID(ref); ok {
			if a, err := address.Parse(p.Address); err == nil {
				return a, SourceBook, nil
			}
		}
		if a, ok := n.linkAddress(ref); ok {
			return a, SourceLink, nil
		}
		a, err := n.locate(ctx, ref)
		switch {
		case errors.Is(err, ErrNoAnswer), errors.Is(err, ErrSelf):
			return fail(err)
		case err != nil:
			return address.Address{}, "", err
		}
		return a, SourceSignaling, nil
	}
	if strings.Count(ref, "-") >= 4 {
		return fail(perr) // it looks like an address: say what is wrong with it
	}
	if host, net, ok := strings.Cut(ref, "."); ok && network.ValidHostName(host) {
		a, err := n.memberByHost(host, net)
		if err != nil {
			return fail(err)
		}
		return a, SourceNetwork, nil
	}
	if service.ValidName(ref) {
		a, err := n.resolveName(ctx, ref)
		switch {
		case err == nil:
			return a, SourceNames, nil
		case errors.Is(err, names.ErrNotFound), errors.Is(err, ErrNoNameService):
			return fail(fmt.Errorf("%q: %w, the networks or the name services", ref, ErrNoPeer))
		}
		return address.Address{}, "", err
	}
	return fail(fmt.Errorf("%q: %w", ref, ErrBadPeerRef))
}

// linkAddress is the address last learnt by the current link with peer.
func (n *Node) linkAddress(peer string) (address.Address, bool) {
	l := n.links.Get(peer)
	if l == nil {
		return address.Address{}, false
	}
	a := l.Address()
	return a, a.NodeID == peer
}

// fieldCause is the cause a *service.FieldError wraps, or err.
func fieldCause(err error) error {
	var fe *service.FieldError
	if errors.As(err, &fe) {
		return fe.Err
	}
	return err
}
