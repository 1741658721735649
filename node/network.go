package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/network"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

// Named networks (package network) run on the node: the node dials the
// members, joins the network's signaling group, and hands the network the
// inbound connections it expects as member links.

var (
	_ network.Host   = nodeHost{}
	_ network.Signal = nodeSignal{}
	_ network.Link   = (*memberLink)(nil)
)

// Errors of the network calls are those of package network.
var (
	ErrNetworkJoined    = network.ErrJoined
	ErrNetworkNotJoined = network.ErrNotJoined
	ErrSubnetTaken      = network.ErrSubnetTaken
)

// networks returns the node's network manager, starting it on first use.
func (n *Node) networks() *network.Manager {
	n.netMu.Lock()
	defer n.netMu.Unlock()
	if n.nets == nil {
		m, err := network.New(network.Config{Host: nodeHost{n}, Signal: nodeSignal{n}, HostName: n.cfg.HostName, Grace: n.cfg.NetworkGrace,
			MaxMembers: n.cfg.NetworkMaxMembers, Range: n.cfg.NetworkRange, Logger: n.cfg.Logger,
			OnState: func(s network.StateChange) { n.emit(Event{Type: EventNetwork, Network: &s}) }})
		if err != nil {
			panic(err) // both are set and New checked the range: cannot happen
		}
		n.nets = m
		n.wg.Go(n.claimMemberLinks)
	}
	return n.nets
}

// JoinNetwork joins a named network once the node is ready (it needs its
// address and signaling).
func (n *Node) JoinNetwork(ctx context.Context, cfg network.JoinConfig) (network.Info, error) {
	if _, err := network.CheckJoin(cfg); err != nil {
		return network.Info{}, err
	}
	select {
	case <-n.ready:
	case <-ctx.Done():
		return network.Info{}, fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
	info, err := n.networks().Join(ctx, cfg)
	if err != nil {
		return info, err
	}
	return n.joined(ctx, cfg, info)
}

// LeaveNetwork leaves a named network.
// A network saved but not joined (its join again failed, or has not run
// yet) is forgotten.
func (n *Node) LeaveNetwork(ctx context.Context, name string) error {
	if err := n.networks().Leave(ctx, name); err != nil && !(errors.Is(err, network.ErrNotJoined) && n.persist.has(name)) {
		return err
	}
	if err := n.persist.dropNetwork(name); err != nil {
		return fmt.Errorf("node: leave %s: %w", name, err)
	}
	return nil
}

// Networks lists the joined networks.
func (n *Node) Networks() []network.Info { return n.networks().List() }

// Network reports one joined network.
func (n *Node) Network(name string) (network.Info, error) { return n.networks().Get(name) }

// MemberLinkOf returns the name of the network whose member link the
// connection is, or "" for none: its bytes are the network's frames.
func (n *Node) MemberLinkOf(c *Conn) string {
	n.netMu.Lock()
	m := n.nets
	n.netMu.Unlock()
	if m == nil {
		return ""
	}
	return m.LinkOf(c.Info().ID)
}

// closeNetworks leaves every network, telling the members.
func (n *Node) closeNetworks() {
	n.netMu.Lock()
	m := n.nets
	n.netMu.Unlock()
	if m != nil {
		m.Close()
	}
}

// claimMemberLinks watches the connection events for inbound connections
// a network expects and hands them over.
func (n *Node) claimMemberLinks() {
	after := n.LastEventID()
	seen := map[string]bool{}
	for {
		evs, _, next := n.Events(after)
		for _, ev := range evs {
			after = ev.ID
			ci := ev.Connection
			if ev.Type != EventConnection || ci == nil || ci.Direction != Inbound {
				continue
			}
			if ci.State == StateClosed {
				delete(seen, ci.ID)
				continue
			}
			if seen[ci.ID] || ci.State != StateOpen {
				continue
			}
			seen[ci.ID] = true
			if !n.nets.Expects(ci.PeerID) {
				continue
			}
			if c, ok := n.Conn(ci.ID); ok {
				c.SetGrace(n.cfg.NetworkGrace)
				n.nets.Accept(&memberLink{c: c, ctx: n.ctx})
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-next:
		}
	}
}

// nodeHost is the node as a network's host.
type nodeHost struct{ n *Node }

func (h nodeHost) ID() string      { return h.n.ID() }
func (h nodeHost) Address() string { return h.n.Address() }

// Dialable: a member's announced address must be its own (the node ID in
// it is the announce's signer) and is cut to what may be dialled on a
// peer's word.
func (h nodeHost) Dialable(member, addr string) (string, error) {
	a, err := address.Parse(addr)
	if err != nil {
		return "", err
	}
	if a.NodeID != member {
		return "", fmt.Errorf("%w: the address is %s's, not the member's", strategy.ErrForbiddenTarget, a.NodeID)
	}
	self, ok := h.n.selfAddress()
	if !ok {
		return "", fmt.Errorf("%w: our own address is not known yet", ErrNotReady)
	}
	a, err = strategy.CheckLearned(self, a, env{h.n}.OnLink)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

func (h nodeHost) Dial(ctx context.Context, addr string) (network.Link, error) {
	a, err := address.Parse(addr)
	if err != nil {
		return nil, err
	}
	if self, ok := h.n.selfAddress(); ok { // Dialable's rule, as the address may be older than our own
		if a, err = strategy.CheckLearned(self, a, env{h.n}.OnLink); err != nil {
			return nil, err
		}
	}
	// A member link waits for a new path as long as the network waits
	// for a member whose link is down: then the member drops out.
	c, err := h.n.ConnectWith(ctx, a, ConnectOptions{Grace: h.n.cfg.NetworkGrace})
	if err != nil {
		return nil, err
	}
	return &memberLink{c: c, ctx: h.n.ctx}, nil
}

// nodeSignal joins signaling groups for networks.
type nodeSignal struct{ n *Node }

func (s nodeSignal) JoinGroup(topic string, key [32]byte, h func(m *signaling.Message)) (network.Group, error) {
	return s.n.sig.JoinGroup(topic, key, func(_ context.Context, m *signaling.Message) { h(m) })
}

// memberLink is a connection as a member link.
type memberLink struct {
	c   *Conn
	ctx context.Context
}

func (l *memberLink) Read(p []byte) (int, error)  { return l.c.ReadInto(l.ctx, p) }
func (l *memberLink) Write(p []byte) (int, error) { return l.c.Write(p) }
func (l *memberLink) Close() error                { return l.c.Close() }
func (l *memberLink) Done() <-chan struct{}       { return l.c.Done() }
func (l *memberLink) PeerID() string              { return l.c.PeerID() }
func (l *memberLink) ID() string                  { return l.c.Info().ID }
func (l *memberLink) Strategy() string            { return l.c.Info().Strategy }
func (l *memberLink) RemoteAddr() string          { return l.c.Info().RemoteAddr }

// memberByHost is the address of the member of network that announces
// host (host.network as a peer reference). Not found is ErrNoPeer.
func (n *Node) memberByHost(host, name string) (address.Address, error) {
	n.netMu.Lock()
	m := n.nets
	n.netMu.Unlock()
	if m == nil {
		return address.Address{}, fmt.Errorf("%s.%s: %w (network %s is not joined)", host, name, ErrNoPeer, name)
	}
	mb, err := m.MemberByHost(name, host)
	switch {
	case errors.Is(err, network.ErrNotJoined), errors.Is(err, network.ErrNoHost):
		return address.Address{}, fmt.Errorf("%s.%s: %w (%w)", host, name, ErrNoPeer, err)
	case err != nil:
		return address.Address{}, err
	}
	return address.Parse(mb.Address)
}
