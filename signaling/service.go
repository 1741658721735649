package signaling

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/reachd/reachd/identity"
)

// A service is something a broker itself answers, such as the rendezvous's
// name service (package names): a node publishes a request to the
// service's topic on one broker, and the broker answers it with a message
// to the node's own topic, signed by a key of the broker's (which the node
// need not know: what a service answers must carry its own proof, as a
// name record carries its owner's signature). A request uses the node
// envelope, signed by the node; its box is sealed with serviceKey, a
// public constant, since what a node asks a public service is no secret
// from that service. A broker without the service never answers.

// ServiceTopicPrefix starts every service topic.
const ServiceTopicPrefix = TopicPrefix + "svc/"

// serviceKey seals service requests: public, not a secret.
var serviceKey = sha256.Sum256([]byte("reachd/v1/svc: a public constant, not a secret"))

// ValidServiceTopic checks a service topic: ServiceTopicPrefix followed
// by 1..32 of [a-z].
func ValidServiceTopic(topic string) error {
	rest, ok := strings.CutPrefix(topic, ServiceTopicPrefix)
	if !ok {
		return fmt.Errorf("service topic %q does not start with %q", topic, ServiceTopicPrefix)
	}
	if rest == "" || len(rest) > 32 || strings.Trim(rest, "abcdefghijklmnopqrstuvwxyz") != "" {
		return fmt.Errorf("service topic %q: want 1..32 of a-z after the prefix", topic)
	}
	return nil
}

// SealService signs m as self and seals its body for a service; m.To must
// be the service's topic.
func SealService(self *identity.Identity, m *Message, r io.Reader) ([]byte, error) {
	if err := ValidServiceTopic(m.To); err != nil {
		return nil, fmt.Errorf("signaling: seal: %w", err)
	}
	return seal(self, m, r, groupKey(serviceKey))
}

// OpenService checks data as a request to the service at topic and
// returns it with its body: Open's checks, the recipient being the topic.
// Replays are the service's business.
func OpenService(topic string, data []byte, p Policy) (*Message, error) {
	return openTo(data, p, groupKey(serviceKey), topic, ValidServiceTopic)
}

// RequestService sends a request of type k to the service at topic on the
// broker at offset, and waits for the message that answers it through
// that broker, from whichever key the service signs with, until ctx ends
// (without a deadline, at most Config.TTL). A reply of type "error" is
// returned together with a *RemoteError.
func (c *Client) RequestService(ctx context.Context, offset int, topic string, k Kind, body any) (*Message, error) {
	typ := k.Name()
	switch {
	case c.closed.Load():
		return nil, ErrClosed
	case !c.started.Load():
		return nil, ErrNotStarted
	case offset < 0 || offset >= len(c.entries):
		return nil, fmt.Errorf("signaling: %s: no broker %d", typ, offset)
	}
	b := c.entries[offset].pick() // of a cluster, one connected member
	if b == nil {
		return nil, fmt.Errorf("signaling: %s to %s: %w", typ, c.entries[offset].raw, ErrNoBroker)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("signaling: %s: body: %w", typ, err)
	}
	id, err := NewID(rand.Reader)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.TTL)
		defer cancel()
	}
	m := &Message{Type: typ, ID: id, To: topic, Sent: c.cfg.Now(), TTL: c.ttl(ctx), Body: raw}
	data, err := SealService(c.id, m, rand.Reader)
	if err != nil {
		return nil, err
	}
	p := &pending{service: offset, ch: make(chan *Message, 1)}
	c.mu.Lock()
	c.pending[id] = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	tok := b.publish(topic, data)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, fmt.Errorf("signaling: %s to %s: %w: %w", typ, b.url, ErrPublish, err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("signaling: %s to %s: %w: %w", typ, b.url, ErrNoReply, ctx.Err())
	case <-c.ctx.Done():
		return nil, ErrClosed
	}
	select {
	case m := <-p.ch:
		if Error.Is(m) {
			eb, _ := Error.Decode(m)
			return m, &RemoteError{Peer: m.From, Reason: eb.Reason}
		}
		return m, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("signaling: %s to %s: %w: %w", typ, b.url, ErrNoReply, ctx.Err())
	case <-c.ctx.Done():
		return nil, ErrClosed
	}
}
