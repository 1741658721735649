package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/punch"
	"github.com/reachd/reachd/signaling"
)

// peerTaskTimeout bounds the work a node does for a peer's request (dial
// back, punch, dial a relay).
const peerTaskTimeout = 10 * time.Second

// dialBackTimeout bounds dialing a peer back: shorter than the peer's
// reverse strategy, so our reason reaches it before it gives up.
const dialBackTimeout = 2 * time.Second

// expectSession registers a session whose connection will arrive on our
// listener (reverse connect) and returns where it will be delivered.
func (n *Node) expectSession(s SessionID) <-chan net.Conn {
	ch := make(chan net.Conn)
	n.mu.Lock()
	n.sessions[s] = ch
	n.mu.Unlock()
	return ch
}

func (n *Node) forgetSession(s SessionID) {
	n.mu.Lock()
	delete(n.sessions, s)
	n.mu.Unlock()
}

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
		select {
		case slots <- struct{}{}:
			n.wg.Go(func() {
				defer func() { <-slots }()
				n.handleInbound(c)
			})
		default:
			n.log.Info("inbound connection refused", "remote", c.RemoteAddr(), "reason", "too many handshakes at once")
			c.Close()
		}
	}
}

// handleInbound reads the preamble of an accepted connection: the zero
// session is a direct connection, which we secure and list as inbound; a
// session we expect goes to the strategy waiting for it; anything else is
// refused.
func (n *Node) handleInbound(raw net.Conn) {
	ctx, cancel := context.WithTimeout(n.ctx, handshakeTimeout)
	defer cancel()
	setKeepAlive(raw)
	raw.SetReadDeadline(time.Now().Add(handshakeTimeout))
	s, err := readPreamble(raw)
	if err != nil {
		n.log.Info("inbound connection refused", "remote", raw.RemoteAddr(), "reason", err)
		raw.Close()
		return
	}
	raw.SetReadDeadline(time.Time{})
	if !s.IsZero() {
		n.mu.Lock()
		ch, ok := n.sessions[s]
		n.mu.Unlock()
		if !ok {
			n.log.Info("inbound connection refused", "remote", raw.RemoteAddr(), "reason", "unknown session "+s.String())
			raw.Close()
			return
		}
		select {
		case ch <- raw:
		case <-ctx.Done():
			n.log.Info("inbound connection refused", "remote", raw.RemoteAddr(), "reason", "session "+s.String()+" no longer waiting")
			raw.Close()
		}
		return
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	tc, peer, err := n.secure(ctx, raw, false, "")
	stop()
	if err != nil {
		n.log.Info("inbound connection refused", "remote", raw.RemoteAddr(), "reason", err)
		raw.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	n.register(secured{tc, raw}, peer, Inbound, StrategyDirect, nil)
}

// handlePeerTasks registers the signaling handlers of the strategies a
// peer asks us to take part in.
func (n *Node) handlePeerTasks() {
	n.sig.Handle(signaling.TypeConnectBack, n.async(n.onConnectBack))
	n.sig.Handle(signaling.TypePunch, n.async(n.onPunch))
	n.sig.Handle(signaling.TypeRelay, n.async(n.onRelay))
}

// maxPeerTasks bounds the peer requests (dial back, punch, relay) worked on
// at once; more are refused with a reason the peer sees.
const maxPeerTasks = 64

// async runs a peer task on its own goroutine, owned by the node, so the
// signaling workers never wait on the network; a failure is sent back to
// the peer as an error message. At most maxPeerTasks run at once.
func (n *Node) async(task func(ctx context.Context, m *signaling.Message) error) signaling.Handler {
	return func(_ context.Context, m *signaling.Message) {
		n.wg.Go(func() {
			ctx, cancel := context.WithTimeout(n.ctx, peerTaskTimeout)
			defer cancel()
			err := errors.New("busy: too many peer requests at once")
			select {
			case n.peerTasks <- struct{}{}:
				err = task(ctx, m)
				<-n.peerTasks
			default:
			}
			if err != nil {
				n.log.Info("peer request failed", "type", m.Type, "peer", m.From, "err", err)
				n.sig.Reply(ctx, m, signaling.TypeError, signaling.ErrorBody{Reason: err.Error()})
			}
		})
	}
}

// onConnectBack dials the requester back (reverse strategy).
func (n *Node) onConnectBack(ctx context.Context, m *signaling.Message) error {
	var b connectBackBody
	if err := m.Decode(&b); err != nil {
		return err
	}
	s, err := parseSessionID(b.Session)
	if err != nil {
		return err
	}
	peerAddr, err := address.Parse(b.Address)
	if err != nil {
		return fmt.Errorf("requester's address: %w", err)
	}
	if peerAddr.NodeID != m.From {
		return fmt.Errorf("requester's address names %s, not the sender %s", peerAddr.NodeID, m.From)
	}
	self, ok := n.selfAddress()
	if !ok {
		return errors.New("own address not known yet")
	}
	dctx, cancel := context.WithTimeout(ctx, dialBackTimeout)
	raw, err := punch.DialDirect(dctx, punch.Candidates(self, peerAddr), nil)
	cancel()
	if err != nil {
		return fmt.Errorf("dial back: %w", err)
	}
	sc, err := n.dialSecure(ctx, raw, s, m.From)
	if err != nil {
		return err
	}
	n.register(sc, m.From, Inbound, StrategyReverse, nil)
	return nil
}

// onPunch answers a punch proposal with our predicted endpoint and punches
// at the meeting time.
func (n *Node) onPunch(ctx context.Context, m *signaling.Message) error {
	var b punchBody
	if err := m.Decode(&b); err != nil {
		return err
	}
	s, err := parseSessionID(b.Session)
	if err != nil {
		return err
	}
	remote, err := netip.ParseAddrPort(b.Endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", b.Endpoint, err)
	}
	at := time.UnixMilli(b.AtMS)
	if d := at.Sub(n.Now()); d > peerTaskTimeout/2 {
		return fmt.Errorf("meeting time %v is too far ahead", d.Round(time.Millisecond))
	}
	prep, err := n.preparePunch(ctx)
	if err != nil {
		return err
	}
	if err := n.sig.Reply(ctx, m, signaling.TypePunchReply, punchReplyBody{Endpoint: prep.external.String()}); err != nil {
		prep.release()
		return fmt.Errorf("punch reply: %w", err)
	}
	sc, err := n.punchAndSecure(ctx, prep, remote, at, s, m.From)
	if err != nil {
		// The initiator sees the failure itself; nothing to send.
		n.log.Info("punch failed", "peer", m.From, "err", err)
		return nil
	}
	n.register(sc, m.From, Inbound, StrategyPunch, nil)
	return nil
}

// onRelay dials the initiator's TURN relayed address with plain TCP.
func (n *Node) onRelay(ctx context.Context, m *signaling.Message) error {
	var b relayBody
	if err := m.Decode(&b); err != nil {
		return err
	}
	s, err := parseSessionID(b.Session)
	if err != nil {
		return err
	}
	relayed, err := netip.ParseAddrPort(b.Relayed)
	if err != nil {
		return fmt.Errorf("relayed address %q: %w", b.Relayed, err)
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", relayed.String())
	if err != nil {
		return fmt.Errorf("dial relay: %w", err)
	}
	// Tell the initiator we are through before the handshake it is waiting
	// to run with us.
	if err := n.sig.Reply(ctx, m, signaling.TypeRelayReply, relayReplyBody{}); err != nil {
		raw.Close()
		return fmt.Errorf("relay reply: %w", err)
	}
	sc, err := n.dialSecure(ctx, raw, s, m.From)
	if err != nil {
		n.log.Info("relay handshake failed", "peer", m.From, "err", err)
		return nil
	}
	n.register(sc, m.From, Inbound, StrategyRelay, nil)
	return nil
}
