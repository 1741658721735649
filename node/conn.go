package node

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reachd/reachd/node/internal/peerlink"
	"github.com/reachd/reachd/session"
)

// Direction says which side asked for a connection.
type Direction = peerlink.Direction

const (
	Outbound = peerlink.Outbound
	Inbound  = peerlink.Inbound
)

// State is a connection's life cycle: open, half_closed (the peer finished
// sending; we may still send), closed.
type State string

const (
	StateOpen       State = "open"
	StateHalfClosed State = "half_closed"
	StateClosed     State = "closed"
)

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
	// Service is the service the connection is for: on an outbound one the
	// peer's, on an inbound one ours; absent on a plain connection.
	Service string `json:"service,omitempty"`
	// Aborted: the connection did not end cleanly (an abort by either
	// side, or no path within the grace period); CloseReason says why.
	Aborted bool `json:"aborted,omitempty"`
	// GraceMS is how long the connection waits for a new path after its
	// path died before it aborts.
	GraceMS int64 `json:"grace_ms"`
	// TAP is the TAP device the connection backs, if any.
	TAP *TAPInfo `json:"tap,omitempty"`
	// Path is the secured path the connection rides on now (absent while
	// it waits for a new one, and once closed); Paths is every path it
	// had, the current one last. Connections to one peer share its path.
	Path  *Path  `json:"path,omitempty"`
	Paths []Path `json:"paths"`
}

// Path is a secured transport between two nodes.
type Path = peerlink.Path

// ErrConnClosed is returned by reads and writes on a connection closed on
// this side (or a write after CloseWrite).
var ErrConnClosed = errors.New("connection closed")

// ErrBusy is returned by Claim when another consumer has that direction.
var ErrBusy = errors.New("another consumer uses this direction of the connection")

// AbortError ends a connection that did not end cleanly: the peer aborted
// it (Remote), we did, or its peer link failed (no path within the grace
// period, the peer restarted). A clean end is io.EOF instead.
type AbortError = session.AbortError

// Conn is an authenticated, encrypted byte stream to a peer: a stream of
// the session link the node keeps with that peer, which outlives the
// paths beneath it. The link's reader takes in what the peer sends up to
// the stream's window ahead of the consumer, so the end of the peer's
// stream, an abort and a dead path are noticed even when nobody reads,
// while a consumer that does not read pushes back on the peer's sender
// for as long as it likes.
type Conn struct {
	id       string
	peer     string
	dir      Direction
	opened   time.Time
	attempts []Attempt
	s        *session.Stream
	n        *Node
	link     *peerlink.Link
	grace    time.Duration
	done     chan struct{} // closed when the connection is closed

	mu          sync.Mutex
	state       State
	closedAt    time.Time
	closeReason string
	aborted     bool
	lastPaths   []Path   // the paths it rode on, once closed
	tap         *tapLink // the TAP device the connection backs, if any

	reader, writer atomic.Bool // claimed by a consumer (see Claim)
}

func newConnID() string {
	var b [10]byte
	rand.Read(b[:])
	return "c" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func newConn(n *Node, s *session.Stream, link *peerlink.Link, dir Direction, attempts []Attempt, grace time.Duration) *Conn {
	if attempts == nil {
		attempts = []Attempt{}
	}
	return &Conn{
		id:       newConnID(),
		peer:     link.Peer(),
		dir:      dir,
		opened:   time.Now(),
		attempts: attempts,
		s:        s,
		n:        n,
		link:     link,
		grace:    grace,
		done:     make(chan struct{}),
		state:    StateOpen,
	}
}

// update takes the stream's ends into the connection's state, telling
// the node when it changed.
func (c *Conn) update() {
	st := c.s.Stats()
	c.mu.Lock()
	if c.state == StateClosed {
		c.mu.Unlock()
		return
	}
	old := c.state
	switch {
	case st.Err != nil:
		c.state, c.aborted, c.closeReason = StateClosed, true, abortReason(st.Err)
	case st.Closed:
		c.state, c.closeReason = StateClosed, "closed locally"
	case st.ReadEnded && st.WriteEnded:
		c.state, c.closeReason = StateClosed, "both sides finished"
	case st.ReadEnded && st.PeerClosed:
		// What the peer sent can still be read; we may send no more.
		c.state, c.closeReason = StateClosed, "the peer closed the connection"
		go c.s.CloseWrite() // the link forgets the stream
	case st.ReadEnded:
		c.state = StateHalfClosed
	}
	closed := c.state == StateClosed
	if closed {
		c.closedAt = time.Now()
		_, c.lastPaths = c.link.Paths(c.opened)
	}
	changed := c.state != old
	c.mu.Unlock()
	if closed {
		c.link.Remove(c.s)
		close(c.done)
		c.dropUnread()
	}
	if changed {
		c.changed()
	}
}

// keepUnread is how long a connection that ended cleanly keeps what it
// received and nobody read (it can still be read); one that was aborted
// drops it at once.
const keepUnread = time.Minute

// dropUnread frees what the closed connection received and nobody read:
// at once when it was aborted, after keepUnread when it ended cleanly.
func (c *Conn) dropUnread() {
	c.mu.Lock()
	aborted := c.aborted
	c.mu.Unlock()
	if aborted {
		c.s.Discard()
		return
	}
	time.AfterFunc(keepUnread, c.s.Discard)
}

// abortReason words why a stream was aborted.
func abortReason(err error) string {
	var ae *AbortError
	if errors.As(err, &ae) {
		switch {
		case ae.Remote:
			return "aborted by the peer: " + ae.Reason
		case ae.Err != nil:
			return "aborted: " + linkReason(ae.Err)
		}
		return "aborted: " + ae.Reason
	}
	return "aborted: " + err.Error()
}

// linkReason words why a peer link failed.
func linkReason(err error) string {
	switch {
	case errors.Is(err, session.ErrNoPath):
		return "no path to the peer within the grace period"
	case errors.Is(err, session.ErrPeerRestarted):
		return "the peer restarted and no longer knows the connection"
	case errors.Is(err, session.ErrPeerClosed):
		return "the peer closed its link"
	case errors.Is(err, session.ErrClosed):
		return "the node is closing"
	}
	return err.Error()
}

func (c *Conn) changed() { c.n.connChanged(c) }

// ID is the connection's ID.
func (c *Conn) ID() string { return c.id }

// PeerID is the authenticated node ID of the peer.
func (c *Conn) PeerID() string { return c.peer }

// ReadInto fills p with what the peer sent: it waits until ctx ends for
// the first byte, then adds what else has already arrived, up to len(p),
// without waiting for more. It returns io.EOF once the peer's stream has
// ended cleanly and everything was read, an *AbortError after an abort,
// and ErrConnClosed once closed on this side; ctx's error when it ends
// first, and os.ErrDeadlineExceeded past SetReadDeadline.
func (c *Conn) ReadInto(ctx context.Context, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.s.ReadContext(ctx, p)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return n, err
	}
	if err != nil {
		// Whoever reads the end sees the state that goes with it.
		c.update()
	}
	return n, connErr(err)
}

// Read is ReadInto into a new slice of up to max bytes, as long as what
// has already arrived.
func (c *Conn) Read(ctx context.Context, limit int) ([]byte, error) {
	if err := c.s.WaitRead(ctx); err != nil {
		return nil, err
	}
	p := make([]byte, min(limit, max(c.s.Stats().Buffered, 1)))
	n, err := c.s.Read(p)
	if err != nil {
		c.update()
	}
	return p[:n], connErr(err)
}

// Wait waits until ctx ends for something to read: the next ReadInto
// returns at once, with bytes or with the end. Waiting takes no buffer.
func (c *Conn) Wait(ctx context.Context) error { return c.s.WaitRead(ctx) }

// Buffered is how many bytes have arrived from the peer and were not read
// yet.
func (c *Conn) Buffered() int { return c.s.Stats().Buffered }

// connErr maps the stream's errors to the connection's.
func connErr(err error) error {
	if errors.Is(err, session.ErrClosed) || errors.Is(err, session.ErrWriteClosed) || errors.Is(err, session.ErrPeerStopped) {
		var ae *AbortError
		if !errors.As(err, &ae) {
			return ErrConnClosed
		}
	}
	return err
}

// Write sends p to the peer. It returns once the session has taken all of
// p (it keeps what the peer has not acknowledged, to resend on a new
// path), waiting as long as the peer's reader pushes back. It fails when
// the connection ends first (an *AbortError after an abort), or with
// os.ErrDeadlineExceeded past SetWriteDeadline.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.s.Write(p)
	return n, connErr(err)
}

// SetReadDeadline makes a ReadInto waiting at t or later return
// os.ErrDeadlineExceeded; zero means none. Setting one allocates nothing,
// so it suits a deadline per read where a context would not.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.s.SetReadDeadline(t) }

// SetWriteDeadline makes a Write waiting at t or later return; zero means
// none.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.s.SetWriteDeadline(t) }

// CloseWrite ends our side of the stream: the peer reads io.EOF and may
// keep sending. The connection closes when both sides have finished.
func (c *Conn) CloseWrite() error {
	err := c.s.CloseWrite()
	if errors.Is(err, session.ErrClosed) {
		return nil
	}
	return connErr(err)
}

// Close ends the connection on this side: our direction ends cleanly
// (unless the peer still has to read it all: its reads end after what was
// sent) and what the peer sends from now on is dropped.
func (c *Conn) Close() error {
	c.s.Close()
	c.update()
	return nil
}

// Abort ends the connection in both directions with reason: the peer's
// reads and writes fail with it.
func (c *Conn) Abort(reason string) error {
	c.s.Abort(reason)
	c.update()
	return nil
}

// Grace is how long the connection waits for a new path after its path
// died, before it aborts.
func (c *Conn) Grace() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.grace
}

// SetGrace changes how long the connection waits for a new path after
// its path died (from the next loss on); a longer one than the peer
// link's lengthens the link's.
func (c *Conn) SetGrace(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.grace = d
	c.mu.Unlock()
	c.link.ExtendGrace(d)
}

// Claim takes the reading and/or the writing direction for one consumer
// (an API request, a WebSocket, a TAP device) until release: two readers
// would each see a stream with holes, two writers interleave. It fails
// with ErrBusy, taking nothing, when a direction asked for is taken.
func (c *Conn) Claim(read, write bool) (release func(), err error) {
	if read && !c.reader.CompareAndSwap(false, true) {
		return nil, ErrBusy
	}
	if write && !c.writer.CompareAndSwap(false, true) {
		if read {
			c.reader.Store(false)
		}
		return nil, ErrBusy
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if read {
				c.reader.Store(false)
			}
			if write {
				c.writer.Store(false)
			}
		})
	}, nil
}

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// State is the connection's state.
func (c *Conn) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Err says how the connection ended: nil while open or after a clean
// end, the *AbortError after an abort.
func (c *Conn) Err() error {
	if err := c.s.Stats().Err; err != nil {
		var ae *AbortError
		if errors.As(err, &ae) {
			return ae
		}
		return &AbortError{Reason: err.Error(), Err: err}
	}
	return nil
}

// Info reports the connection.
func (c *Conn) Info() ConnInfo {
	st := c.s.Stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	var t *tapLink
	if c.state != StateClosed {
		t = c.tap
	}
	info := ConnInfo{
		TAP:           tapInfoOf(t),
		ID:            c.id,
		PeerID:        c.peer,
		Direction:     c.dir,
		State:         c.state,
		BytesSent:     uint64(st.Written),
		BytesReceived: uint64(st.Read) + uint64(st.Buffered),
		OpenedAt:      c.opened,
		ClosedAt:      c.closedAt,
		CloseReason:   c.closeReason,
		Aborted:       c.aborted,
		GraceMS:       c.grace.Milliseconds(),
		Attempts:      c.attempts,
		Service:       c.s.Header().Service,
	}
	if c.state == StateClosed {
		info.Paths = c.lastPaths
	} else {
		info.Path, info.Paths = c.link.Paths(c.opened)
	}
	last := info.Paths[len(info.Paths)-1]
	info.Strategy, info.LocalAddr, info.RemoteAddr = last.Strategy, last.LocalAddr, last.RemoteAddr
	return info
}
