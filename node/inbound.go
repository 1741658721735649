package node

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

// peerTaskTimeout bounds the work a node does for a peer's request (dial
// back, punch, dial a relay), its handshake and commit included.
const peerTaskTimeout = 10 * time.Second

// maxHandshakes bounds the inbound connections in their handshake at
// once; more are closed at once, so a flood of silent connections cannot
// pile up goroutines (each handshake also ends after handshakeTimeout).
const maxHandshakes = 128

// acceptLoop accepts peer connections on the listen port.
func (n *Node) acceptLoop() {
	slots := make(chan struct{}, maxHandshakes)
	for {
		c, err := n.ln.Accept()
		if err != nil {
			if n.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			n.log.Warn("accept", "err", err)
			continue
		}
		release, ok := n.limits.handshake(c)
		if !ok {
			n.refuseConn(c, RefusedHandshakesPerIP)
			continue
		}
		select {
		case slots <- struct{}{}:
			n.wg.Go(func() {
				defer func() { <-slots }()
				n.handleInbound(c, release)
			})
		default:
			release()
			n.refuseConn(c, RefusedHandshakes)
		}
	}
}

// refuseConn closes an inbound connection before its handshake, counting
// why.
func (n *Node) refuseConn(c net.Conn, reason string) {
	n.counters.refuse(reason)
	n.log.Debug("inbound connection refused", "remote", c.RemoteAddr(), "reason", reason)
	c.Close()
}

// handleInbound reads the preamble of an accepted connection: the zero
// session is a direct connection, which we secure and, once the peer
// commits it, list as inbound; a session we expect goes to the strategy
// waiting for it; anything else is refused. release gives back the
// connection's handshake slot.
func (n *Node) handleInbound(raw net.Conn, release func()) {
	ctx, cancel := context.WithTimeout(n.ctx, handshakeTimeout)
	defer cancel()
	defer release()
	refuse := func(reason any) {
		n.log.Info("inbound connection refused", "remote", raw.RemoteAddr(), "reason", reason)
		raw.Close()
	}
	raw.SetReadDeadline(time.Now().Add(handshakeTimeout))
	s, err := readPreamble(raw)
	if err != nil {
		refuse(err)
		return
	}
	raw.SetReadDeadline(time.Time{})
	if s.IsZero() {
		n.answered(ctx, strategy.Raw{Conn: raw}, "", strategy.Direct)
		return
	}
	n.mu.Lock()
	ch, ok := n.sessions[s]
	n.mu.Unlock()
	if !ok {
		refuse("unknown session " + s.String())
		return
	}
	select {
	case ch <- raw:
	case <-ctx.Done():
		refuse("session " + s.String() + " no longer waiting")
	}
}

// answered secures a path a peer initiated (expected: its node ID, or
// any peer when empty), checks the inbound policy and limits, waits for
// the peer to commit the path, and lists it as an inbound connection.
func (n *Node) answered(ctx context.Context, r strategy.Raw, expected, name string) {
	remote := r.Conn.RemoteAddr()
	sc, peer, err := n.handshake(ctx, r, expected)
	if err != nil {
		n.log.Info("inbound path not kept", "remote", remote, "strategy", name, "reason", err)
		return
	}
	if !n.allowed(peer) {
		n.counters.refuse(RefusedPolicy)
		n.log.Info("inbound path refused", "remote", remote, "peer", peer, "reason", "not allowed by the inbound policy")
		sc.close()
		return
	}
	if err := awaitCommit(ctx, sc); err != nil {
		sc.close()
		n.log.Info("inbound path not kept", "remote", remote, "strategy", name, "reason", err)
		return
	}
	n.inboundMu.Lock()
	defer n.inboundMu.Unlock()
	total, fromPeer := n.conns.inbound(peer)
	switch {
	case total >= n.cfg.Limits.MaxInbound:
		n.counters.refuse(RefusedInbound)
	case fromPeer >= n.cfg.Limits.MaxInboundPerPeer:
		n.counters.refuse(RefusedInboundPerPeer)
	default:
		n.register(sc, peer, Inbound, name, nil)
		return
	}
	n.log.Info("inbound connection refused", "remote", remote, "peer", peer, "reason", "too many inbound connections")
	sc.close()
}

// handlePeerTasks registers the signaling handlers of the strategies whose
// responder a peer asks us to play.
func (n *Node) handlePeerTasks() {
	for _, s := range strategy.All {
		if typ := s.Request(); typ != "" {
			n.sig.Handle(typ, n.async(s))
		}
	}
}

// maxPeerTasks bounds the peer requests (dial back, punch, relay) worked on
// at once; more are refused with a reason the peer sees.
const maxPeerTasks = 64

// async runs a strategy's responder on its own goroutine, owned by the
// node, so the signaling workers never wait on the network; a failure is
// sent back to the peer as an error message. At most maxPeerTasks run at
// once.
func (n *Node) async(s strategy.Strategy) signaling.Handler {
	return func(_ context.Context, m *signaling.Message) {
		n.wg.Go(func() {
			ctx, cancel := context.WithTimeout(n.ctx, peerTaskTimeout)
			defer cancel()
			switch {
			case !n.allowed(m.From):
				n.refusePeer(ctx, m, RefusedPolicy, "not allowed", nil)
				return
			case !n.limits.request(m.From):
				n.refusePeer(ctx, m, RefusedRate, "busy", nil)
				return
			}
			select {
			case n.peerTasks <- struct{}{}:
				defer func() { <-n.peerTasks }()
			default:
				n.refusePeer(ctx, m, RefusedBusy, "busy", nil)
				return
			}
			raw, err := s.Respond(ctx, env{n}, m)
			switch {
			case errors.Is(err, strategy.ErrAnswered):
				n.log.Info("peer request failed", "type", m.Type, "peer", m.From, "err", err)
				return
			case errors.Is(err, strategy.ErrForbiddenTarget):
				n.refusePeer(ctx, m, RefusedTarget, strategy.Refusal(err), err)
				return
			case errors.Is(err, strategy.ErrBadRequest):
				n.refusePeer(ctx, m, RefusedBadRequest, strategy.Refusal(err), err)
				return
			case err != nil:
				n.refusePeer(ctx, m, "", strategy.Refusal(err), err)
				return
			}
			n.answered(ctx, raw, m.From, s.Name())
		})
	}
}

// refusePeer answers a peer's request with a fixed reason (never the
// detail, which is logged), counting the refusal when counted is set.
func (n *Node) refusePeer(ctx context.Context, m *signaling.Message, counted, reason string, detail error) {
	if counted != "" {
		n.counters.refuse(counted)
	}
	n.log.Info("peer request refused", "type", m.Type, "peer", m.From, "reason", reason, "detail", detail)
	n.sig.Reply(ctx, m, signaling.TypeError, signaling.ErrorBody{Reason: reason})
}
