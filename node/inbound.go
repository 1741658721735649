package node

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/reachd/reachd/node/internal/handshake"
	"github.com/reachd/reachd/node/internal/peerlink"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

// peerTaskTimeout bounds the work a node does for a peer's request (dial
// back, punch, dial a relay), its handshake and commit included.
const peerTaskTimeout = 10 * time.Second

// acceptLoop accepts peer connections on the listen port, each within a
// handshake slot (see handshakeSlots).
func (n *Node) acceptLoop() {
	slots := newHandshakeSlots(n.cfg.Limits.MaxHandshakesPerIP, n.cfg.Limits.MaxHandshakesPerPrefix, n.mayUseReserve,
		func(c net.Conn, reason string) {
			n.counters.refuse(reason)
			n.log.Debug("inbound connection closed in its handshake", "remote", c.RemoteAddr(), "reason", reason)
		})
	for {
		c, err := n.ln.Accept()
		if err != nil {
			return // closed: the acceptor retries every other error
		}
		handshake.SetKeepAlive(c) // before the handshake wraps it
		wc, release, reason := slots.admit(c)
		if reason != "" {
			n.refuseConn(c, reason)
			continue
		}
		n.wg.Go(func() { n.handleInbound(wc, release) })
	}
}

// mayUseReserve says whether a dialer whose preamble names peer may take
// a handshake slot kept for known peers: one we have a link with, or one
// an allowlist names.
func (n *Node) mayUseReserve(peer string) bool {
	if n.links.Get(peer) != nil {
		return true
	}
	return n.Policy().Accept == AcceptAllowlist && n.allowed(peer)
}

// refuseConn closes an inbound connection before its handshake, counting
// why.
func (n *Node) refuseConn(c net.Conn, reason string) {
	n.counters.refuse(reason)
	n.log.Debug("inbound connection refused", "remote", c.RemoteAddr(), "reason", reason)
	c.Close()
}

// handleInbound reads the preamble of an accepted connection and answers
// it: the zero session is a direct connection, which we take when the
// inbound policy lets its dialer in, secure and, once the dialer commits
// it, list as inbound; a session we expect goes to the strategy waiting
// for it; anything else is refused, saying why. release gives back the
// connection's handshake slot.
func (n *Node) handleInbound(raw net.Conn, release func()) {
	ctx, cancel := context.WithTimeout(n.ctx, handshake.Timeout)
	defer cancel()
	defer release()
	handshake.SetKeepAlive(raw)
	refuse := func(answer handshake.Answer, reason any) {
		if answer != 0 {
			raw.SetWriteDeadline(time.Now().Add(time.Second))
			handshake.WriteAnswer(raw, answer)
		}
		_, prefix := sourceOf(raw)
		n.logRefusal(prefix.String(), "inbound connection refused", "remote", raw.RemoteAddr(), "reason", reason)
		raw.Close()
	}
	raw.SetReadDeadline(time.Now().Add(handshake.Timeout))
	p, err := handshake.ReadPreamble(raw)
	switch {
	case errors.Is(err, handshake.ErrVersion):
		refuse(handshake.AnswerVersion, err)
		return
	case err != nil:
		refuse(0, err)
		return
	}
	raw.SetReadDeadline(time.Time{})
	if p.Ticket.IsZero() {
		if reason := n.admitPath(p.From); reason != "" {
			n.counters.refuse(reason)
			answer := handshake.AnswerBusy
			if reason == RefusedPolicy {
				answer = handshake.AnswerNotAllowed
			}
			refuse(answer, reason+": "+p.From)
			return
		}
		if err := handshake.WriteAnswer(raw, handshake.AnswerOK); err != nil {
			refuse(0, err)
			return
		}
		// TLS proves the node ID the preamble claims.
		n.answered(ctx, strategy.Raw{Conn: raw}, p.From, strategy.Direct)
		return
	}
	exp, ok := n.tickets.lookup(p.Ticket)
	if !ok || exp.peer != p.From {
		refuse(handshake.AnswerUnknownTicket, "unknown session "+p.Ticket.String()+" of "+p.From)
		return
	}
	// Answer before the hand-over: the strategy's TLS writes come next.
	if err := handshake.WriteAnswer(raw, handshake.AnswerOK); err != nil {
		refuse(0, err)
		return
	}
	select {
	case exp.ch <- raw:
	case <-ctx.Done():
		refuse(0, "session "+p.Ticket.String()+" no longer waiting")
	}
}

// answered secures a path a peer initiated (expected: its node ID; its
// requests, or its preamble, were checked against the inbound policy
// before we answered), waits for the peer to commit the path, and gives
// it to the peer's link (the peer's connections come as streams on it).
func (n *Node) answered(ctx context.Context, r strategy.Raw, expected, name string) {
	remote := r.Conn.RemoteAddr()
	sc, peer, err := n.handshake(ctx, r, expected)
	if err != nil {
		n.log.Info("inbound path not kept", "remote", remote, "strategy", name, "reason", err)
		return
	}
	if err := sc.AwaitCommit(ctx); err != nil {
		sc.Close()
		n.log.Info("inbound path not kept", "remote", remote, "strategy", name, "reason", err)
		return
	}
	// Checked before we answered; the policy may have changed since.
	if !n.allowed(peer) {
		n.counters.refuse(RefusedPolicy)
		n.log.Info("inbound path refused", "remote", remote, "peer", peer, "reason", RefusedPolicy)
		sc.Close()
		return
	}
	l, err := n.links.Make(peer)
	if err == nil {
		err = l.Attach(ctx, sc.TLS, name, Inbound)
	} else {
		if errors.Is(err, peerlink.ErrTooManyLinks) {
			n.counters.refuse(RefusedLinks)
		}
		sc.Close()
	}
	if err != nil {
		n.log.Info("inbound path not kept", "remote", remote, "strategy", name, "reason", err)
	}
}

// handlePeerTasks registers the signaling handlers of the strategies whose
// responder a peer asks us to play.
func (n *Node) handlePeerTasks() {
	for _, s := range strategy.All {
		if k := s.Request(); k != nil {
			n.sig.Handle(k, n.async(s))
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
			switch reason := n.admitPath(m.From); {
			case reason == RefusedPolicy:
				n.refusePeer(ctx, m, reason, "not allowed", nil)
				return
			case reason != "":
				n.refusePeer(ctx, m, reason, "busy", nil)
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

// admitPath says why the inbound policy or limits refuse a new path from
// peer (a Refused* reason), or "". A peer we have a link with may always
// give it a path: its connections resume or move on it.
func (n *Node) admitPath(peer string) string {
	if !n.allowed(peer) {
		return RefusedPolicy
	}
	if n.links.Get(peer) != nil {
		return ""
	}
	if total, _ := n.conns.inbound(peer); total >= n.cfg.Limits.MaxInbound {
		return RefusedInbound
	}
	return ""
}

// admit says why the inbound policy or limits refuse a new inbound
// connection from peer (a Refused* reason), or "".
func (n *Node) admit(peer string) string {
	if !n.allowed(peer) {
		return RefusedPolicy
	}
	total, fromPeer := n.conns.inbound(peer)
	switch {
	case total >= n.cfg.Limits.MaxInbound:
		return RefusedInbound
	case fromPeer >= n.cfg.Limits.MaxInboundPerPeer:
		return RefusedInboundPerPeer
	}
	return ""
}

// refusePeer answers a peer's request with a fixed reason (never the
// detail, which is logged), counting the refusal when counted is set.
func (n *Node) refusePeer(ctx context.Context, m *signaling.Message, counted, reason string, detail error) {
	if counted != "" {
		n.counters.refuse(counted)
	}
	n.logRefusal(m.From, "peer request refused", "type", m.Type, "reason", reason, "detail", detail)
	n.sig.Reply(ctx, m, signaling.Error, signaling.ErrorBody{Reason: reason})
}
