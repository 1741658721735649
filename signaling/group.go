package signaling

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/reachd/reachd/identity"
)

// A group is an extra topic that several nodes subscribe to, with a
// symmetric key they all hold (for example both derived from a shared
// secret, as named networks do). Group messages use the node envelope: the
// to field is the group's topic, the box is sealed with the group key
// (XSalsa20-Poly1305, as a NaCl box after precomputation) and the envelope
// is signed by the sender's node key. So a group message reveals its
// sender's node ID to the broker, but only key holders can read it, and
// every member knows which node sent it. The receive checks are those of a
// node message (size, syntax, signature, recipient = topic, age, replay);
// a node's own messages, which the broker echoes back, are ignored.

// GroupTopicPrefix starts every group topic.
const GroupTopicPrefix = TopicPrefix + "net/"

// ErrGroupJoined is returned by JoinGroup for a topic joined already.
var ErrGroupJoined = errors.New("signaling: group topic joined already")

// Group is one joined group topic.
type Group struct {
	c     *Client
	topic string
	key   [32]byte
	h     Handler
}

// ValidGroupTopic checks a group topic: GroupTopicPrefix followed by 1..64
// characters of [a-z0-9_-].
func ValidGroupTopic(topic string) error {
	rest, ok := strings.CutPrefix(topic, GroupTopicPrefix)
	if !ok {
		return fmt.Errorf("group topic %q does not start with %q", topic, GroupTopicPrefix)
	}
	if rest == "" || len(rest) > 64 {
		return fmt.Errorf("group topic %q: suffix length must be 1..64", topic)
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return fmt.Errorf("group topic %q: character %q not allowed", topic, c)
		}
	}
	return nil
}

// JoinGroup subscribes to topic on every broker (now on those connected,
// and on each reconnection) and hands the messages that open with key to
// h, on the Client's workers. Leave undoes it.
func (c *Client) JoinGroup(topic string, key [32]byte, h Handler) (*Group, error) {
	if err := ValidGroupTopic(topic); err != nil {
		return nil, fmt.Errorf("signaling: join group: %w", err)
	}
	if h == nil {
		return nil, errors.New("signaling: join group: nil handler")
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	g := &Group{c: c, topic: topic, key: key, h: h}
	c.mu.Lock()
	if _, ok := c.groups[topic]; ok {
		c.mu.Unlock()
		return nil, ErrGroupJoined
	}
	c.groups[topic] = g
	c.mu.Unlock()
	for _, b := range c.connectedBrokers() {
		b.subscribeGroup(topic)
	}
	return g, nil
}

// Topic is the group's topic.
func (g *Group) Topic() string { return g.topic }

// Leave unsubscribes from the group's topic; its handler is not called
// again once Leave returns.
func (g *Group) Leave() {
	c := g.c
	c.mu.Lock()
	if c.groups[g.topic] != g {
		c.mu.Unlock()
		return
	}
	delete(c.groups, g.topic)
	c.mu.Unlock()
	for _, b := range c.connectedBrokers() {
		b.client().Unsubscribe(g.topic) // not waited on: messages that still come are dropped
	}
}

// Publish seals body (marshalled to JSON) in a group message of type k
// and publishes it on every connected broker (on one member of a cluster),
// so members that share only one broker with us hear it (they drop the
// duplicates). It returns once
// one broker acknowledged it, or the error of every attempt.
func (g *Group) Publish(ctx context.Context, k Kind, body any) error {
	typ := k.Name()
	c := g.c
	switch {
	case c.closed.Load():
		return ErrClosed
	case !c.started.Load():
		return ErrNotStarted
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("signaling: publish %s: body: %w", typ, err)
	}
	id, err := NewID(rand.Reader)
	if err != nil {
		return err
	}
	m := &Message{Type: typ, ID: id, To: g.topic, Sent: c.cfg.Now(), TTL: c.ttl(ctx), Body: raw}
	data, err := SealGroup(c.id, g.key, m, rand.Reader)
	if err != nil {
		return err
	}
	var toks []mqtt.Token
	var bs []*broker
	for _, e := range c.entries {
		if b := e.pick(); b != nil {
			toks = append(toks, b.publish(g.topic, data))
			bs = append(bs, b)
		}
	}
	if len(toks) == 0 {
		return fmt.Errorf("signaling: publish %s: %w", typ, ErrNoBroker)
	}
	var errs []error
	for i, tok := range toks {
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return fmt.Errorf("signaling: publish %s: %w", typ, ctx.Err())
		case <-c.ctx.Done():
			return ErrClosed
		}
		if err := tok.Error(); err != nil {
			err = fmt.Errorf("publish to %s: %w", bs[i].url, err)
			bs[i].setErr(err)
			errs = append(errs, err)
			continue
		}
		return nil
	}
	return fmt.Errorf("signaling: publish %s: %w", typ, errors.Join(append([]error{ErrPublish}, errs...)...))
}

// SealGroup encrypts m.Body with the group key, signs the envelope as self
// and returns its JSON. m.To must be the group's topic.
func SealGroup(self *identity.Identity, key [32]byte, m *Message, r io.Reader) ([]byte, error) {
	if err := ValidGroupTopic(m.To); err != nil {
		return nil, fmt.Errorf("signaling: seal: %w", err)
	}
	return seal(self, m, r, groupKey(key))
}

// OpenGroup checks data as a message to the group topic and returns it
// with its body decrypted with the group key. It runs Open's checks, the
// recipient being the topic; a box that does not open with key is
// DropUndecryptable.
func OpenGroup(topic string, key [32]byte, data []byte, p Policy) (*Message, error) {
	return openTo(data, p, groupKey(key), topic, ValidGroupTopic)
}

func groupKey(key [32]byte) sharedKeyFunc {
	return func(string) (*[32]byte, error) { return &key, nil }
}

// groupTopics lists the joined group topics.
func (c *Client) groupTopics() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.groups))
	for t := range c.groups {
		out = append(out, t)
	}
	return out
}

// receiveGroup checks a message that came in on a group topic and hands it
// to the group's handler.
func (c *Client) receiveGroup(in inbound) {
	c.mu.Lock()
	g := c.groups[in.topic]
	c.mu.Unlock()
	if g == nil {
		c.dropped(in.b, &DropError{Reason: DropNotForUs, Err: fmt.Errorf("topic %s not joined", in.topic)}, len(in.payload))
		return
	}
	now := c.cfg.Now()
	m, err := OpenGroup(g.topic, g.key, in.payload, Policy{Now: now, MaxSkew: c.cfg.MaxSkew, MaxTTL: c.cfg.MaxTTL})
	if err != nil {
		c.dropped(in.b, err, len(in.payload), "topic", in.topic)
		return
	}
	if m.From == c.id.NodeID() {
		return // our own, echoed by the broker
	}
	m.Broker, m.BrokerOffset = in.b.url, in.b.offset
	if r := c.replay.check(m.From, m.ID, m.Sent.UnixMilli(), m.Expires().UnixMilli(), now.UnixMilli()); r != "" {
		if r != DropReplay { // the copy from a second broker is expected
			c.dropped(in.b, &DropError{Reason: r}, len(in.payload), "from", m.From, "id", m.ID)
		}
		return
	}
	c.mu.Lock()
	live := c.groups[in.topic] == g
	c.mu.Unlock()
	if live {
		g.h(c.ctx, m)
	}
}

// subscribeGroup subscribes to a group topic on the current connection,
// without waiting: a failure shows as the broker's last error.
func (b *broker) subscribeGroup(topic string) {
	tok := b.client().Subscribe(topic, 1, b.onMessage)
	b.c.wg.Go(func() {
		if !tok.WaitTimeout(b.c.cfg.ConnectTimeout) {
			b.setErr(fmt.Errorf("subscribe %s: no SUBACK within %v", topic, b.c.cfg.ConnectTimeout))
			return
		}
		if err := tok.Error(); err != nil {
			b.setErr(fmt.Errorf("subscribe %s: %w", topic, err))
		}
	})
}
