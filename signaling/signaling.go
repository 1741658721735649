// Package signaling carries reachd's small control messages between nodes
// over MQTT brokers.
//
// A Client keeps one MQTT connection per configured broker (two per broker
// cluster, see cluster.go), signed in with
// the node key (see LoginPassword) and subscribed to the node's topic
// reachd/v1/<node id> at QoS 1, and renews the subscription on every
// reconnect. Each message travels in a signed JSON envelope whose body is
// sealed to the recipient (see Envelope, Seal, Open); received messages are
// checked (size, syntax, signature, recipient, age, replay) before they reach
// a Handler or the Request waiting for them. Drops are counted per reason.
//
// It does not decide what the messages mean beyond echo: strategies register
// handlers for their own types. It holds no broker list of its own: offsets
// index into Config.Brokers, and all nodes of a deployment are assumed to list
// the same brokers in the same order.
package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/reachd/reachd/identity"
)

// TopicPrefix is prepended to a node ID to form its MQTT topic.
const TopicPrefix = "reachd/v1/"

// Topic returns the MQTT topic node nodeID listens on.
func Topic(nodeID string) string { return TopicPrefix + nodeID }

// ErrorBody is the body of a message of type "error".
type ErrorBody struct {
	Reason string `json:"reason"`
}

// Handler handles one received message. ctx ends when the Client closes.
// Handlers run on the Client's workers: one that blocks holds up a worker, so
// long work belongs on a goroutine the handler's owner waits for.
type Handler func(ctx context.Context, m *Message)

// Client is a signaling endpoint: one node's connections to its brokers.
type Client struct {
	cfg    Config
	id     *identity.Identity
	log    *slog.Logger
	topic  string
	replay *replayCache
	keys   *keyCache

	entries []*entry // one per configured broker entry
	queue   chan inbound

	ctx    context.Context // lifetime; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	started atomic.Bool
	closed  atomic.Bool

	mu       sync.Mutex
	handlers map[string]Handler
	pending  map[string]*pending
	groups   map[string]*Group // by topic
	changed  chan struct{}

	drops []atomic.Uint64 // indexed like DropReasons
	rtts  rttCache        // round trips of the last echoes (rtt.go)
}

type inbound struct {
	b       *broker
	topic   string
	payload []byte
}

type pending struct {
	from    string        // the peer asked; empty for a service (service.go)
	service int           // for a service: the offset of its broker
	ch      chan *Message // capacity 1
}

// answers reports whether m may answer the request: it comes from the
// peer asked, or, for a service, through the service's broker.
func (p *pending) answers(m *Message) bool {
	if p.from == "" {
		return m.BrokerOffset == p.service
	}
	return p.from == m.From
}

var dropIndex = func() map[DropReason]int {
	m := make(map[DropReason]int, len(DropReasons))
	for i, r := range DropReasons {
		m[r] = i
	}
	return m
}()

// New validates cfg and returns a Client that is not yet connected.
func New(cfg Config) (*Client, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:      cfg,
		id:       cfg.Identity,
		log:      cfg.Logger.With("component", "signaling"),
		topic:    Topic(cfg.Identity.NodeID()),
		replay:   newReplayCache(cfg.ReplayCacheSize, cfg.ReplayWindow, cfg.Now().UnixMilli()),
		keys:     newKeyCache(cfg.Identity),
		queue:    make(chan inbound, cfg.QueueSize),
		ctx:      ctx,
		cancel:   cancel,
		handlers: make(map[string]Handler),
		pending:  make(map[string]*pending),
		groups:   make(map[string]*Group),
		changed:  make(chan struct{}),
		drops:    make([]atomic.Uint64, len(DropReasons)),
	}
	for i, raw := range cfg.Brokers {
		e, err := newEntry(c, i, raw)
		if err != nil {
			cancel()
			return nil, err
		}
		c.entries = append(c.entries, e)
	}
	c.handlers[Echo.Name()] = c.handleEcho
	return c, nil
}

// Start connects to every broker and starts the workers, then waits until at
// least one broker is connected and subscribed, or ctx ends. In that case it
// returns an error wrapping ErrNoBroker and ctx.Err(), but the Client keeps
// trying in the background until Close. Call Close in every case.
func (c *Client) Start(ctx context.Context) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("signaling: Start called twice")
	}
	for _, e := range c.entries {
		c.wg.Go(func() { e.run(c.ctx) })
	}
	for range c.cfg.Workers {
		c.wg.Go(c.work)
	}
	for {
		ch := c.Changes()
		if len(c.ConnectedOffsets()) > 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("signaling: start: %w (%w)", ErrNoBroker, ctx.Err())
		case <-c.ctx.Done():
			return ErrClosed
		}
	}
}

// Close disconnects from every broker and waits for the Client's goroutines.
// Handlers see their ctx cancelled. (A paho goroutine sleeping between
// attempts to reach a down broker may outlive Close by up to
// ConnectRetryInterval or MaxReconnectInterval; it calls nothing of ours.)
func (c *Client) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.cancel()
	c.wg.Wait()
	return nil
}

// ID returns this node's ID.
func (c *Client) ID() string { return c.id.NodeID() }

// Handle registers h for messages of type k, replacing any earlier one
// (including the built-in echo handler). A nil h removes the handler.
func (c *Client) Handle(k Kind, h Handler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h == nil {
		delete(c.handlers, k.Name())
		return
	}
	c.handlers[k.Name()] = h
}

// Brokers returns the state of every configured broker, in configured order.
func (c *Client) Brokers() []BrokerStatus {
	out := make([]BrokerStatus, len(c.entries))
	for i, e := range c.entries {
		out[i] = e.status()
	}
	return out
}

// ConnectedOffsets returns the indices (into Config.Brokers) of the brokers
// that are connected and subscribed, ascending: the node's signal offsets.
func (c *Client) ConnectedOffsets() []int {
	var out []int
	for i, e := range c.entries {
		if e.isConnected() {
			out = append(out, i)
		}
	}
	return out
}

// connectedBrokers returns every connected broker connection: one per
// broker, up to ClusterMembers per cluster.
func (c *Client) connectedBrokers() []*broker {
	var out []*broker
	for _, e := range c.entries {
		for _, b := range e.brokers() {
			if b.isConnected() {
				out = append(out, b)
			}
		}
	}
	return out
}

// Drops returns how many received messages were dropped, per reason. Every
// reason is present.
func (c *Client) Drops() map[DropReason]uint64 {
	out := make(map[DropReason]uint64, len(DropReasons))
	for i, r := range DropReasons {
		out[r] = c.drops[i].Load()
	}
	return out
}

// Changes returns a channel that is closed at the next change of a broker's
// connected state or of the drop counters. Take it before reading the state,
// to miss nothing.
func (c *Client) Changes() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *Client) notify() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}
