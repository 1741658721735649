package node

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node/internal/peerlink"
	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

// Peer links (node/internal/peerlink) keep one session link per peer;
// the node is their Host: it plans and races their paths, answers and
// asks for addresses, and lists the streams peers open as connections.

// reprobeEvery is the least time between two probes a lost path
// triggers.
const reprobeEvery = 5 * time.Second

// Signaling messages of peer links: a peer asks for our current address
// when it looks for a new path.
var (
	msgAddress      = signaling.NewType[struct{}]("address")
	msgAddressReply = signaling.NewType[addressBody]("address_reply")
)

type addressBody struct {
	Address string `json:"address"`
}

// ErrClosing: the node is closing.
var ErrClosing = peerlink.ErrClosing

// linkHost is the node as its peer links see it.
type linkHost struct{ n *Node }

var _ peerlink.Host = linkHost{}

func newLinks(n *Node) (*peerlink.Table, error) {
	return peerlink.New(peerlink.Config{
		ID:           n.ID(),
		Host:         linkHost{n},
		Strategies:   DefaultStrategies,
		Grace:        n.cfg.Grace,
		MaxLinks:     n.cfg.Limits.MaxLinks,
		IdleAfter:    n.cfg.Limits.LinkIdle,
		SendBuffer:   n.cfg.Limits.LinkBuffer,
		StreamWindow: n.cfg.Limits.StreamWindow,
		// The node refuses streams past its own limits, saying which;
		// the link's bounds are a backstop.
		MaxStreams:    2*n.cfg.Limits.MaxInboundPerPeer + 16,
		AcceptBacklog: 2*n.cfg.Limits.MaxInboundPerPeer + 16,
		RecvBudget:    n.limits.recv,
		Logger:        n.log,
	})
}

func (h linkHost) Plan(peer address.Address, strategies []string) ([]strategy.Step, error) {
	self, ok := h.n.selfAddress()
	if !ok {
		return nil, ErrNotReady
	}
	return strategy.Plan(self, peer, strategy.PlanConfig{Strategies: strategies, TURN: len(h.n.cfg.TURN) > 0, Birthday: !h.n.cfg.Birthday.Off}), nil
}

func (h linkHost) Race(ctx context.Context, peer address.Address, steps []strategy.Step) (net.Conn, string, error) {
	win, err := h.n.race(ctx, peer, steps)
	if err != nil {
		return nil, "", err
	}
	return win.path.TLS, win.name, nil
}

// AskAddress asks the peer for its current address, and keeps of its
// answer only what the rules for peer requests let us dial (see
// learnedAddress).
func (h linkHost) AskAddress(ctx context.Context, peer string, known address.Address) (address.Address, error) {
	to := signaling.Peer{NodeID: peer}
	if known.NodeID != "" {
		to = signaling.PeerOf(known)
	}
	m, err := h.n.sig.Request(ctx, to, msgAddress, struct{}{})
	if err != nil {
		return address.Address{}, err
	}
	self, ok := h.n.selfAddress()
	if !ok {
		return address.Address{}, ErrNotReady
	}
	a, err := learnedAddress(self, peer, m, env{h.n}.OnLink)
	if err != nil {
		return address.Address{}, err
	}
	h.n.learnAddress(a) // the peer told us its address: the book follows it
	return a, nil
}

// learnedAddress reads a peer's answer to an address request: its own
// address (the node ID it is signed by), cut to the interfaces we may
// dial: an address is a peer's word, and a stranger's word could name
// our own loopback, or any host behind us (strategy.CheckLearned).
func learnedAddress(self address.Address, peer string, m *signaling.Message, onLink func(netip.Addr) bool) (address.Address, error) {
	body, err := msgAddressReply.Decode(m)
	if err != nil {
		return address.Address{}, err
	}
	return checkLearned(self, peer, body.Address, onLink)
}

func (h linkHost) Reprobe() { h.n.reprobe() }

// Accept lists a stream the peer opened as an inbound connection, within
// the inbound policy and limits.
func (h linkHost) Accept(l *peerlink.Link, s *session.Stream) {
	n := h.n
	n.inboundMu.Lock()
	defer n.inboundMu.Unlock()
	if reason := n.admit(l.Peer()); reason != "" {
		n.counters.refuse(reason)
		n.logRefusal(l.Peer(), "inbound connection refused", "reason", reason)
		s.Abort("refused: " + reason)
		return
	}
	if s.Header().Service != "" {
		n.acceptService(l, s)
		return
	}
	n.addConn(newConn(n, s, l, Inbound, nil, l.Grace()))
}

// PathChanged reports a change of a link's path.
func (h linkHost) PathChanged(l *peerlink.Link, ev session.Event, p Path) {
	pe := &PathEvent{Peer: l.Peer(), Kind: string(ev.Kind), Reason: ev.Reason, GapMS: ev.Gap.Milliseconds(), Path: p}
	h.n.log.Info("peer path "+string(ev.Kind), "peer", l.Peer(), "strategy", p.Strategy,
		"remote", p.RemoteAddr, "reason", ev.Reason, "gap", ev.Gap.Round(time.Millisecond))
	h.n.emit(Event{Type: EventPath, PathChange: pe})
	if ev.Kind == session.EventLost && h.n.probedBefore(reprobeEvery) {
		// Our address may have changed under it. Spaced as reprobe: a
		// stranger can make its paths die at will.
		h.n.reprobeSoon("path lost")
	}
}

// openOn opens a connection to the peer on its link.
func (n *Node) openOn(ctx context.Context, l *peerlink.Link, attempts []Attempt, o ConnectOptions) (*Conn, error) {
	grace := o.Grace
	if grace <= 0 {
		grace = n.cfg.Grace
	}
	s, err := l.Open(ctx, session.Header{Service: o.Service, Kind: o.Kind}, grace)
	if err != nil {
		return nil, err
	}
	return n.addConn(newConn(n, s, l, Outbound, attempts, grace)), nil
}

// addConn lists a connection on its link and the node.
func (n *Node) addConn(c *Conn) *Conn {
	c.link.Add(c.s, linkConn{c})
	n.register(c)
	c.update() // what happened to the stream before it was listed
	return c
}

// linkConn is a connection as its link sees it.
type linkConn struct{ *Conn }

var _ peerlink.Conn = linkConn{}

func (c linkConn) PathChanged()   { c.changed() }
func (c linkConn) StreamChanged() { c.update() }

// answerAddress tells a peer with which we have a link our current
// address.
func (n *Node) answerAddress(ctx context.Context, m *signaling.Message) {
	l := n.links.Get(m.From)
	addr := n.Address()
	if l == nil || !n.allowed(m.From) || addr == "" {
		n.sig.Reply(ctx, m, signaling.Error, signaling.ErrorBody{Reason: "not allowed"})
		return
	}
	n.sig.Reply(ctx, m, msgAddressReply, addressBody{Address: addr})
}

// probedBefore reports whether the last probe finished more than d ago.
func (n *Node) probedBefore(d time.Duration) bool {
	n.stateMu.Lock()
	defer n.stateMu.Unlock()
	return time.Since(n.probedAt) >= d
}

// reprobe probes the NATs again, unless a probe finished within
// reprobeEvery: a path that died may mean our address changed.
func (n *Node) reprobe() {
	n.probeMu.Lock()
	defer n.probeMu.Unlock()
	n.stateMu.Lock()
	at := n.probedAt
	n.stateMu.Unlock()
	if time.Since(at) < reprobeEvery {
		return
	}
	n.probeLocked("resume")
}
