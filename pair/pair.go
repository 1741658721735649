// Package pair pairs two nodes with a short code: one offers, prints a
// code of a number and three words (code.go); the other joins with it.
// The two run CPace (package pair/cpace) over signaling, keyed by the
// code, then exchange their peer addresses sealed under the CPace key with
// key confirmation (protocol.go). Each side hands the other's address to
// its host, which saves it in the address book.
//
// An offer lasts TTL (10 minutes) and serves one exchange: the first hello
// uses it, whether its code is right or not, so an attacker gets one guess
// per offer, with odds of 1 in 2^24. A wrong code fails on both sides.
// Brokers see the code's number (the topic) and the two node IDs (the
// signed envelopes), never the words, the addresses or anything that
// allows an offline guess.
//
// The package does not save anything and knows nothing of the address
// book: its host does (Config.Paired).
package pair

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/reachd/reachd/signaling"
)

// Signal is what the manager needs of signaling; *signaling.Client has it.
type Signal interface {
	JoinGroup(topic string, key [32]byte, h signaling.Handler) (*signaling.Group, error)
	Send(ctx context.Context, peer signaling.Peer, k signaling.Kind, body any, re string) error
	Request(ctx context.Context, peer signaling.Peer, k signaling.Kind, body any) (*signaling.Message, error)
	Reply(ctx context.Context, req *signaling.Message, k signaling.Kind, body any) error
	Handle(k signaling.Kind, h signaling.Handler)
}

var _ Signal = (*signaling.Client)(nil)

// Roles and states of a pairing, as Event reports them.
const (
	RoleOffer = "offer"
	RoleJoin  = "join"

	StateStarted   = "started"   // an offer got a hello: the exchange runs
	StateCompleted = "completed" // the peer is saved
	StateFailed    = "failed"    // a wrong code, a peer that went silent, a save that failed
	StateExpired   = "expired"   // an offer that nobody used within its TTL
)

// Event is a step of a pairing.
type Event struct {
	Offer  int    `json:"offer"`            // the code's number
	Role   string `json:"role"`             // offer or join
	State  string `json:"state"`            // started, completed, failed, expired
	Peer   string `json:"peer,omitempty"`   // the other node's ID, once known
	Name   string `json:"name,omitempty"`   // the name the peer was saved under (completed)
	Reason string `json:"reason,omitempty"` // why it failed
}

// Result is a completed exchange, as Config.Paired gets it.
type Result struct {
	Role   string
	Number int    // the code's number
	PeerID string // the other node's ID, which signed its messages
	Card   Card   // its address (of that node ID) and host name
	Name   string // the name asked for ("" for an offer made without one)
}

// Config configures a Manager.
type Config struct {
	// Self is this node's ID. Required.
	Self string
	// Signal sends and receives the messages. Required.
	Signal Signal
	// Card returns what this node tells a peer (its address, its host
	// name). Required.
	Card func() Card
	// Paired saves a peer once the code is proven, before the offerer
	// sends its own card (offer) or before Join returns (join); it returns
	// the name used. An error fails the pairing. Required.
	Paired func(Result) (string, error)
	// OnEvent receives each Event; nil drops them.
	OnEvent func(Event)
	// TTL is how long an offer lasts; 0 means 10 minutes.
	TTL time.Duration
	// StepTimeout is how long a side waits for the other's next message;
	// 0 means 15s.
	StepTimeout time.Duration
	// Resend is how often a joiner publishes its hello again until the
	// offerer answers (a broker may not have the offer's subscription
	// yet, or lose a message); 0 means 1s.
	Resend time.Duration
	// MaxOffers bounds the offers kept (open ones, and ended ones that
	// answer "used" until they expire); 0 means 8.
	MaxOffers int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of codes and scalars; nil means crypto/rand.
	Rand io.Reader
	// Logger receives the logs; nil discards.
	Logger *slog.Logger
}

// maxRefusals bounds the "used" answers one offer sends.
const maxRefusals = 16

// Manager runs a node's offers and joins.
type Manager struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // lifetime; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	offers map[int]*offer          // by number
	joins  map[string]chan replyIn // by hex sid
	closed bool
}

// replyIn is a reply with the message it came in.
type replyIn struct {
	m    *signaling.Message
	body reply
}

type offer struct {
	code    Code
	name    string
	expires time.Time
	group   *signaling.Group
	started chan struct{} // closed at the first hello
	gone    chan struct{} // closed when the offer is dropped early (evicted, closed)

	// guarded by Manager.mu
	state    string // "waiting", StateStarted, "checking", StateCompleted, StateFailed
	run      *offerRun
	sid      []byte
	refusals int
	created  time.Time
}

// New returns a Manager; it registers its message handlers on cfg.Signal.
func New(cfg Config) (*Manager, error) {
	if cfg.Self == "" || cfg.Signal == nil || cfg.Card == nil || cfg.Paired == nil {
		return nil, errors.New("pair: Self, Signal, Card and Paired are required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Minute
	}
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = 15 * time.Second
	}
	if cfg.Resend <= 0 {
		cfg.Resend = time.Second
	}
	if cfg.MaxOffers <= 0 {
		cfg.MaxOffers = 8
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(Event) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: cfg.Logger.With("component", "pair"), ctx: ctx, cancel: cancel,
		offers: make(map[int]*offer), joins: make(map[string]chan replyIn)}
	cfg.Signal.Handle(msgReply, m.onReply)
	cfg.Signal.Handle(msgConfirm, m.onConfirm)
	return m, nil
}

// Close ends every offer and waits for the manager's goroutines.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}

// send runs a send on a goroutine the manager owns, so a handler never
// waits for a broker; nothing is sent once Close began.
func (m *Manager) send(what string, fn func(ctx context.Context) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.wg.Go(func() {
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.StepTimeout)
		defer cancel()
		if err := fn(ctx); err != nil {
			m.log.Debug("send", "what", what, "err", err)
		}
	})
}

func (m *Manager) emit(ev Event) { m.cfg.OnEvent(ev) }

func sidKey(sid []byte) string { return hex.EncodeToString(sid) }

// errf wraps a sentinel with the code number for logs and callers.
func errf(n int, err error) error { return fmt.Errorf("pairing code %d: %w", n, err) }
