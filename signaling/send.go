package signaling

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
)

// maxFanout is how many brokers one message is published to.
const maxFanout = 2

// Peer is where a message goes: a node ID and the offsets of the brokers that
// node listens on (the signal offsets of its address).
type Peer struct {
	NodeID        string
	SignalOffsets []int
}

// PeerOf returns the Peer for a parsed peer address.
func PeerOf(a address.Address) Peer {
	return Peer{NodeID: a.NodeID, SignalOffsets: a.SignalOffsets}
}

// Send seals body (marshalled to JSON) in a message of type k to peer,
// answering message re (empty for none), and publishes it to up to two of the
// peer's brokers that this client is connected to; when there are none, to up
// to two of any connected brokers. It returns once one broker acknowledged it
// (PUBACK), or the error of every attempt. The message's TTL is the time left
// before ctx's deadline, between 1s and MaxTTL, or Config.TTL without one.
func (c *Client) Send(ctx context.Context, peer Peer, k Kind, body any, re string) error {
	id, err := NewID(rand.Reader)
	if err != nil {
		return err
	}
	return c.send(ctx, peer, k.Name(), body, re, id)
}

func (c *Client) send(ctx context.Context, peer Peer, typ string, body any, re, id string) error {
	switch {
	case c.closed.Load():
		return ErrClosed
	case !c.started.Load():
		return ErrNotStarted
	}
	if err := identity.ValidNodeID(peer.NodeID); err != nil {
		return fmt.Errorf("signaling: send %s: peer: %w", typ, err)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("signaling: send %s: body: %w", typ, err)
	}
	m := &Message{Type: typ, ID: id, Re: re, To: peer.NodeID, Sent: c.cfg.Now(), TTL: c.ttl(ctx), Body: raw}
	data, err := seal(c.id, m, rand.Reader, c.keys.shared)
	if err != nil {
		return err
	}
	targets := c.route(peer.SignalOffsets)
	if len(targets) == 0 {
		return fmt.Errorf("signaling: send %s to %s: %w", typ, short(peer.NodeID), ErrNoBroker)
	}
	topic := Topic(peer.NodeID)
	type attempt struct {
		b   *broker
		tok mqtt.Token
	}
	sent := time.Now()
	live := make([]attempt, 0, maxFanout)
	tried := slices.Clone(targets)
	for _, b := range targets {
		live = append(live, attempt{b, b.publish(topic, data)})
	}
	var errs []error
	retry := func(b *broker) { // on another member of b's cluster, if any
		if nb := b.e.other(tried); nb != nil {
			tried = append(tried, nb)
			live = append(live, attempt{nb, nb.publish(topic, data)})
		}
	}
	for len(live) > 0 {
		changes := c.Changes()
		// A publish on a cluster member that lost its connection waits for
		// that member to come back (paho resends it then): send it through
		// another member of the cluster instead.
		for i := 0; i < len(live); i++ {
			if b := live[i].b; !b.isConnected() && b.e.other(tried) != nil {
				errs = append(errs, fmt.Errorf("publish to %s: connection lost", b.url))
				live = append(live[:i], live[i+1:]...)
				retry(b)
				i--
			}
		}
		var done [maxFanout]<-chan struct{} // nil channels never fire
		for i, a := range live {
			done[i] = a.tok.Done()
		}
		var i int
		select {
		case <-done[0]:
			i = 0
		case <-done[1]:
			i = 1
		case <-changes:
			continue
		case <-ctx.Done():
			return fmt.Errorf("signaling: send %s to %s: %w", typ, short(peer.NodeID), ctx.Err())
		case <-c.ctx.Done():
			return ErrClosed
		}
		a := live[i]
		if err := a.tok.Error(); err != nil {
			err = fmt.Errorf("publish to %s: %w", a.b.url, err)
			a.b.setErr(err)
			errs = append(errs, err)
			live = append(live[:i], live[i+1:]...)
			retry(a.b)
			continue
		}
		a.b.rtt.Store(int64(time.Since(sent))) // the PUBACK's round trip
		c.log.Debug("sent", "type", typ, "id", id, "to", peer.NodeID, "broker", a.b.url)
		return nil
	}
	return fmt.Errorf("signaling: send %s to %s: %w", typ, short(peer.NodeID), errors.Join(append([]error{ErrPublish}, errs...)...))
}

// route picks the brokers a message to a peer with the given signal offsets
// goes to: one connection per broker entry (one member of a cluster).
func (c *Client) route(offsets []int) []*broker {
	out := make([]*broker, 0, maxFanout)
	for _, o := range offsets {
		if o < 0 || o >= len(c.entries) {
			continue
		}
		b := c.entries[o].pick()
		if b == nil {
			continue
		}
		dup := false
		for _, x := range out {
			dup = dup || x.offset == o
		}
		if !dup {
			out = append(out, b)
		}
		if len(out) == maxFanout {
			return out
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, e := range c.entries {
		if b := e.pick(); b != nil {
			out = append(out, b)
			if len(out) == maxFanout {
				break
			}
		}
	}
	return out
}

func (c *Client) ttl(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return c.cfg.TTL
	}
	return min(max(time.Until(dl), time.Second), c.cfg.MaxTTL).Truncate(time.Millisecond)
}

// Request sends a message of type k to peer and waits for the message that
// answers it (same re, from that peer), until ctx ends; without a deadline it
// waits at most Config.TTL. A reply of type "error" is returned together with
// a *RemoteError.
func (c *Client) Request(ctx context.Context, peer Peer, k Kind, body any) (*Message, error) {
	typ := k.Name()
	id, err := NewID(rand.Reader)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.TTL)
		defer cancel()
	}
	p := &pending{from: peer.NodeID, ch: make(chan *Message, 1)}
	c.mu.Lock()
	c.pending[id] = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	if err := c.send(ctx, peer, typ, body, "", id); err != nil {
		return nil, err
	}
	select {
	case m := <-p.ch:
		if Error.Is(m) {
			eb, _ := Error.Decode(m) // a body that does not decode leaves the reason empty
			return m, &RemoteError{Peer: m.From, Reason: eb.Reason}
		}
		return m, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("signaling: %s to %s: %w: %w", typ, short(peer.NodeID), ErrNoReply, ctx.Err())
	case <-c.ctx.Done():
		return nil, ErrClosed
	}
}

// Reply sends a message of type k answering req, through the broker req
// came in on (falling back to any connected one).
func (c *Client) Reply(ctx context.Context, req *Message, k Kind, body any) error {
	peer := Peer{NodeID: req.From, SignalOffsets: []int{req.BrokerOffset}}
	return c.Send(ctx, peer, k, body, req.ID)
}

// Echo sends an echo to peer and waits for its echo_reply. It returns the
// round-trip time and the URL of the broker the reply came through.
func (c *Client) Echo(ctx context.Context, peer Peer) (rtt time.Duration, broker string, err error) {
	start := time.Now()
	m, err := c.Request(ctx, peer, Echo, struct{}{})
	if err != nil {
		return 0, "", err
	}
	rtt = time.Since(start)
	if !EchoReply.Is(m) {
		return 0, "", fmt.Errorf("signaling: echo to %s: answered with %q", short(peer.NodeID), m.Type)
	}
	c.rtts.put(peer.NodeID, rtt)
	return rtt, m.Broker, nil
}

// short abbreviates a node ID for error messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
