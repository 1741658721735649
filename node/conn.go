package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"io"
	"net"
	"os"
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
	// TAP is the TAP device the connection backs, if any.
	TAP *TAPInfo `json:"tap,omitempty"`
	// Path is the transport the connection rides on while it is open;
	// Paths is every one it had, the current one last. (Today a
	// connection has one path for its life; the session layer will move
	// connections between paths.)
	Path  *Path  `json:"path,omitempty"`
	Paths []Path `json:"paths"`
}

// Path is a secured transport between two nodes.
type Path struct {
	Strategy   string `json:"strategy"`
	LocalAddr  string `json:"local_addr"`
	RemoteAddr string `json:"remote_addr"`
	// RTTMS is the kernel's smoothed round trip of the TCP connection
	// beneath (to the TURN server for a relay path), when known.
	RTTMS  float64   `json:"rtt_ms,omitempty"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"` // why it ended
}

// ErrConnClosed is returned by reads and writes on a closed connection.
var ErrConnClosed = errors.New("connection closed")

// ErrBusy is returned by Claim when another consumer has that direction.
var ErrBusy = errors.New("another consumer uses this direction of the connection")

// inboxChunks bounds what is read from the peer ahead of the consumer:
// this many chunks of up to chunkSize bytes (the largest TLS record's
// plaintext). A full inbox stops reading, so TCP flow control pushes back
// on the peer.
const (
	inboxChunks = 32
	chunkSize   = 16 << 10
)

// chunk is one buffer of the peer's stream: the reader fills it, the
// consumer drains it, and it goes back to chunkPool. buf[off:n] is unread.
type chunk struct {
	buf    [chunkSize]byte
	off, n int
}

// chunkPool holds the chunks of every connection, so that a connection's
// reader allocates nothing in steady state and an idle connection holds
// none.
var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

// getChunk takes a chunk from the pool for c.
func (c *Conn) getChunk() *chunk {
	c.chunks.Add(1)
	return chunkPool.Get().(*chunk)
}

// putChunk returns one of c's chunks to the pool.
func (c *Conn) putChunk(ch *chunk) {
	c.chunks.Add(-1)
	ch.off, ch.n = 0, 0
	chunkPool.Put(ch)
}

// aLongTimeAgo is a read deadline that has passed: a read with it takes
// only what is already buffered and never waits for the network.
var aLongTimeAgo = time.Unix(1, 0)

// Conn is an authenticated, encrypted stream to a peer. A goroutine reads
// from the peer ahead of the consumer, so the end of the peer's stream and
// the peer's death are noticed even when nobody reads. It reads into
// chunks from a pool shared by all connections, at most inboxChunks ahead,
// and waits for the peer without holding one; the consumer copies out of
// them (ReadInto) and returns them.
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
	inbox     chan *chunk   // closed when the peer's stream ends
	buffered  atomic.Int64  // bytes received and not yet read
	chunks    atomic.Int32  // chunks taken from the pool and not returned
	peekable  bool          // raw has read deadlines (see readChunk)
	closing   chan struct{} // closed by finish
	readerEnd chan struct{} // closed when readLoop returns

	readMu  sync.Mutex // one consumer at a time
	pending *chunk     // the chunk being read, if any

	writeMu sync.Mutex // one writer at a time

	mu          sync.Mutex
	wrote       bool // our side has finished sending (CloseWrite)
	state       State
	closedAt    time.Time
	closeReason string
	closeOnce   sync.Once
	tap         *tapLink // the TAP device the connection backs, if any

	reader, writer atomic.Bool // claimed by a consumer (see Claim)
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
		inbox:     make(chan *chunk, inboxChunks),
		peekable:  raw.SetReadDeadline(time.Time{}) == nil,
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
	var first [1]byte // declared once: it escapes into crypto/tls
	for {
		ch, err := c.readChunk(first[:])
		if ch != nil {
			c.received.Add(uint64(ch.n))
			c.buffered.Add(int64(ch.n))
			select {
			case c.inbox <- ch:
			case <-c.closing:
				c.putChunk(ch)
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

// readChunk reads the next part of the peer's stream into a chunk from the
// pool; nil when the read returned no bytes. It waits for the next record
// with a one-byte read into first, so that an idle connection holds no
// chunk; once a record is there it takes a chunk and fills it with what
// TLS has already received.
func (c *Conn) readChunk(first []byte) (*chunk, error) {
	if !c.peekable {
		ch := c.getChunk()
		n, err := c.tls.Read(ch.buf[:])
		if n == 0 {
			c.putChunk(ch)
			return nil, err
		}
		ch.n = n
		return ch, err
	}
	n, err := c.tls.Read(first)
	if n == 0 {
		return nil, err
	}
	ch := c.getChunk()
	ch.buf[0], ch.n = first[0], 1
	if err == nil {
		err = c.readBuffered(ch)
	}
	return ch, err
}

// readBuffered fills the rest of ch with what TLS can return without
// reading from the network: the rest of the current record and whole
// records already received. It returns io.EOF when the peer's close_notify
// came with them, and other errors of the stream.
func (c *Conn) readBuffered(ch *chunk) error {
	c.raw.SetReadDeadline(aLongTimeAgo)
	defer c.raw.SetReadDeadline(time.Time{})
	for ch.n < len(ch.buf) {
		n, err := c.tls.Read(ch.buf[ch.n:])
		ch.n += n
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
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

// ReadInto fills p with what the peer sent: it waits until ctx ends for
// the first byte, then adds what else has already arrived, up to len(p),
// without waiting for more. It returns io.EOF once the peer's stream has
// ended and everything was read.
func (c *Conn) ReadInto(ctx context.Context, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.wait(ctx); err != nil {
		return 0, err
	}
	return c.drain(p), nil
}

// Read is ReadInto into a new slice of up to max bytes, as long as what
// has already arrived.
func (c *Conn) Read(ctx context.Context, max int) ([]byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	p := make([]byte, min(max, int(c.buffered.Load())))
	return p[:c.drain(p)], nil
}

// Wait waits until ctx ends for something to read: the next ReadInto
// returns at once, with bytes or with io.EOF. Waiting takes no buffer.
func (c *Conn) Wait(ctx context.Context) error {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	err := c.wait(ctx)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// Buffered is how many bytes have arrived from the peer and were not read
// yet.
func (c *Conn) Buffered() int { return int(c.buffered.Load()) }

// wait makes c.pending the next chunk, waiting until ctx ends for one.
// What has arrived comes first, even with a context already done. It
// returns io.EOF at the end of the peer's stream. The caller holds readMu.
func (c *Conn) wait(ctx context.Context) error {
	if c.pending != nil {
		return nil
	}
	var (
		ch *chunk
		ok bool
	)
	select {
	case ch, ok = <-c.inbox:
	default:
		select {
		case ch, ok = <-c.inbox:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if !ok {
		return io.EOF
	}
	c.pending = ch
	return nil
}

// drain copies into p what has arrived, from c.pending on, without
// waiting, and returns the chunks it emptied to the pool. The caller holds
// readMu.
func (c *Conn) drain(p []byte) int {
	n := 0
	for n < len(p) && c.pending != nil {
		ch := c.pending
		m := copy(p[n:], ch.buf[ch.off:ch.n])
		n += m
		ch.off += m
		if ch.off < ch.n {
			break // p is full
		}
		c.putChunk(ch)
		c.pending = nil
		select {
		case next, ok := <-c.inbox:
			if ok {
				c.pending = next
			}
		default:
		}
	}
	c.buffered.Add(-int64(n))
	return n
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
	var t *tapLink
	if c.state != StateClosed {
		t = c.tap
	}
	p := Path{Strategy: c.strategy, LocalAddr: c.raw.LocalAddr().String(), RemoteAddr: c.raw.RemoteAddr().String(), Since: c.opened}
	var current *Path
	if c.state == StateClosed {
		p.Until, p.Reason = c.closedAt, c.closeReason
	} else {
		if rtt, ok := tcpRTT(c.raw); ok {
			p.RTTMS = float64(rtt.Microseconds()) / 1000
		}
		current = &p
	}
	return ConnInfo{
		Path:          current,
		Paths:         []Path{p},
		TAP:           tapInfoOf(t),
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
