package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Direction says which side asked for a connection.
type Direction string

const (
	Outbound Direction = "outbound"
	Inbound  Direction = "inbound"
)

// State is a connection's life cycle: open, half_closed (the peer finished
// sending; we may still send), closed.
type State string

const (
	StateOpen       State = "open"
	StateHalfClosed State = "half_closed"
	StateClosed     State = "closed"
)

// Attempt outcomes. An attempt event says "trying" when it starts.
const (
	OutcomeTrying    = "trying"
	OutcomeOK        = "ok"
	OutcomeFailed    = "failed"
	OutcomeSkipped   = "skipped"   // not tried: the plan says it cannot work, or time ran out first
	OutcomeCancelled = "cancelled" // stopped because another strategy won
)

// Attempt is one strategy's part in a connection's race.
type Attempt struct {
	Name    string `json:"name"`    // the strategy
	Outcome string `json:"outcome"` // see the Outcome constants
	Reason  string `json:"reason,omitempty"`
	// Class sorts a failure (see strategy.Class).
	Class string `json:"class,omitempty"`
	// Chance is the plan's judgement: likely, possible or unlikely.
	Chance string `json:"chance,omitempty"`
	// MS is how long it ran; StartedMS and FinishedMS are offsets from
	// the start of the connect.
	MS         int64 `json:"ms"`
	StartedMS  int64 `json:"started_ms"`
	FinishedMS int64 `json:"finished_ms"`
}

// ConnInfo is a connection as the API reports it.
type ConnInfo struct {
	ID            string    `json:"id"`
	PeerID        string    `json:"peer_id"`
	Direction     Direction `json:"direction"`
	Strategy      string    `json:"strategy"`
	State         State     `json:"state"`
	LocalAddr     string    `json:"local_addr"`
	RemoteAddr    string    `json:"remote_addr"`
	BytesSent     uint64    `json:"bytes_sent"`
	BytesReceived uint64    `json:"bytes_received"`
	OpenedAt      time.Time `json:"opened_at"`
	ClosedAt      time.Time `json:"closed_at,omitzero"`
	CloseReason   string    `json:"close_reason,omitempty"`
	Attempts      []Attempt `json:"attempts"`
}

// ErrConnClosed is returned by reads and writes on a closed connection.
var ErrConnClosed = errors.New("connection closed")

// inboxChunks bounds what is read from the peer ahead of the consumer:
// this many chunks of up to chunkSize bytes. A full inbox stops reading,
// so TCP flow control pushes back on the peer.
const (
	inboxChunks = 32
	chunkSize   = 16 << 10
)

// Conn is an authenticated, encrypted stream to a peer. A goroutine reads
// from the peer ahead of the consumer, so the end of the peer's stream and
// the peer's death are noticed even when nobody reads.
type Conn struct {
	id        string
	peer      string
	dir       Direction
	strategy  string
	opened    time.Time
	attempts  []Attempt
	tls       *tls.Conn
	raw       net.Conn
	onChange  func(*Conn)
	sent      atomic.Uint64
	received  atomic.Uint64
	inbox     chan []byte   // closed when the peer's stream ends
	closing   chan struct{} // closed by finish
	readerEnd chan struct{} // closed when readLoop returns

	readMu  sync.Mutex // one consumer at a time
	pending []byte

	writeMu sync.Mutex // one writer at a time

	mu          sync.Mutex
	wrote       bool // our side has finished sending (CloseWrite)
	state       State
	closedAt    time.Time
	closeReason string
	closeOnce   sync.Once
}

func newConnID() string {
	var b [10]byte
	rand.Read(b[:])
	return "c" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// newConn wraps an established TLS stream and starts its reader.
func newConn(tc *tls.Conn, raw net.Conn, peer string, dir Direction, strategy string, attempts []Attempt, onChange func(*Conn)) *Conn {
	c := &Conn{
		id:        newConnID(),
		peer:      peer,
		dir:       dir,
		strategy:  strategy,
		opened:    time.Now(),
		attempts:  attempts,
		tls:       tc,
		raw:       raw,
		onChange:  onChange,
		inbox:     make(chan []byte, inboxChunks),
		closing:   make(chan struct{}),
		readerEnd: make(chan struct{}),
		state:     StateOpen,
	}
	if c.attempts == nil {
		c.attempts = []Attempt{}
	}
	go c.readLoop()
	return c
}

// readLoop reads the peer's stream into the inbox. After the peer's TLS
// stream ends (its close_notify), it waits on the raw connection: a peer
// that only half-closed keeps TCP open, a peer that closed or died ends it
// (FIN, RST, or a keepalive timeout), and then the connection is closed.
func (c *Conn) readLoop() {
	defer close(c.readerEnd)
	// The state changes before the inbox closes, so whoever reads the end
	// of the stream sees the state that goes with it.
	err := c.pump()
	if err != nil {
		c.finish("read: " + err.Error())
		close(c.inbox)
		return
	}
	c.mu.Lock()
	bothDone := c.wrote
	if !bothDone && c.state == StateOpen {
		c.state = StateHalfClosed
	}
	c.mu.Unlock()
	close(c.inbox)
	if bothDone {
		c.finish("both sides finished")
		return
	}
	c.changed()
	var one [1]byte
	_, err = c.raw.Read(one[:])
	reason := "peer closed the connection"
	if err != nil && !errors.Is(err, io.EOF) {
		reason = "peer gone: " + err.Error()
	}
	c.finish(reason)
}

// pump copies the peer's stream into the inbox until it ends (nil) or
// fails.
func (c *Conn) pump() error {
	for {
		buf := make([]byte, chunkSize)
		n, err := c.tls.Read(buf)
		if n > 0 {
			c.received.Add(uint64(n))
			select {
			case c.inbox <- buf[:n]:
			case <-c.closing:
				return ErrConnClosed
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (c *Conn) changed() {
	if c.onChange != nil {
		c.onChange(c)
	}
}

// finish closes the connection once, recording why.
func (c *Conn) finish(reason string) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.state = StateClosed
		c.closedAt = time.Now()
		c.closeReason = reason
		c.mu.Unlock()
		close(c.closing)
		c.raw.Close()
		c.changed()
	})
}

// ID is the connection's ID.
func (c *Conn) ID() string { return c.id }

// PeerID is the authenticated node ID of the peer.
func (c *Conn) PeerID() string { return c.peer }

// Read returns what the peer sent, waiting until ctx ends for at least one
// byte. It returns io.EOF once the peer's stream has ended and everything
// was read.
func (c *Conn) Read(ctx context.Context, max int) ([]byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if len(c.pending) == 0 {
		// What has arrived comes first, even with a context already done.
		var (
			chunk []byte
			ok    bool
		)
		select {
		case chunk, ok = <-c.inbox:
		default:
			select {
			case chunk, ok = <-c.inbox:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if !ok {
			return nil, io.EOF
		}
		c.pending = chunk
	}
	n := min(max, len(c.pending))
	out := c.pending[:n:n]
	c.pending = c.pending[n:]
	return out, nil
}

// Write sends p to the peer.
func (c *Conn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	ended := c.wrote || c.state == StateClosed
	c.mu.Unlock()
	if ended {
		return 0, ErrConnClosed
	}
	n, err := c.tls.Write(p)
	c.sent.Add(uint64(n))
	if err != nil {
		c.finish("write: " + err.Error())
	}
	return n, err
}

// CloseWrite ends our side of the stream: the peer reads io.EOF and may
// keep sending. The connection closes when both sides have finished.
func (c *Conn) CloseWrite() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	if c.wrote || c.state == StateClosed {
		c.mu.Unlock()
		return nil
	}
	c.wrote = true
	peerDone := c.state == StateHalfClosed
	c.mu.Unlock()
	err := c.tls.CloseWrite()
	if peerDone {
		c.finish("both sides finished")
	}
	return err
}

// Close closes the connection and waits for its reader to end.
func (c *Conn) Close() error {
	// Send close_notify unless a write is stuck on a peer that does not
	// read; closing the raw connection below unblocks that write.
	if c.writeMu.TryLock() {
		c.mu.Lock()
		notify := !c.wrote && c.state != StateClosed
		c.wrote = true
		c.mu.Unlock()
		if notify {
			c.raw.SetWriteDeadline(time.Now().Add(time.Second))
			c.tls.CloseWrite()
		}
		c.writeMu.Unlock()
	}
	c.finish("closed locally")
	<-c.readerEnd
	return nil
}

// Done is closed when the connection is closed and its reader has ended.
func (c *Conn) Done() <-chan struct{} { return c.readerEnd }

// State is the connection's state.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Info reports the connection.
func (c *Conn) Info() ConnInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ConnInfo{
		ID:            c.id,
		PeerID:        c.peer,
		Direction:     c.dir,
		Strategy:      c.strategy,
		State:         c.state,
		LocalAddr:     c.raw.LocalAddr().String(),
		RemoteAddr:    c.raw.RemoteAddr().String(),
		BytesSent:     c.sent.Load(),
		BytesReceived: c.received.Load(),
		OpenedAt:      c.opened,
		ClosedAt:      c.closedAt,
		CloseReason:   c.closeReason,
		Attempts:      c.attempts,
	}
}
