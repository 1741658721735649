package session

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Link is the resumable carrier between two nodes: one reliable byte
// stream of frames over whichever path is current, carrying streams.
type Link struct {
	cfg       Config
	initiator bool
	nonce     [16]byte
	start     time.Time

	attachMu sync.Mutex // one path installed at a time

	mu         sync.Mutex
	space      sync.Cond // send buffer space, acks and failure
	buf        sendBuffer
	acked      int64 // the peer has every reliable byte before this
	sent       int64 // the writer's position on the current path
	bound      int64 // the first frame boundary at or after sent
	sentMax    int64
	peer       [16]byte // the peer's nonce; zero before the first hello
	state      State
	cur        *path
	last       *path // the path last installed (cur, or the dead one)
	err        error // why the link failed; nil while it lives
	lostAt     time.Time
	grace      *time.Timer
	ticker     *time.Timer
	rtt        time.Duration
	pongSent   int64         // when the ping of the last pong was sent (link time)
	pong       chan struct{} // closed at the next pong (see Ping); nil when nobody waits
	paths      int
	kick       chan struct{} // wakes the writer
	closeWait  bool          // Close waits for the peer's acks
	hellos     uint32        // hellos sent
	curRank    rank          // the current path's rank
	attaching  int           // Attach calls under way
	moving     bool          // the path ended while an Attach was under way
	lostReason string

	recv      atomic.Int64 // reliable bytes taken in (the current reader writes it)
	active    atomic.Int64 // link time of the last reliable bytes sent or received; 0 before any
	ackedSent atomic.Int64 // the last ack we sent

	smu      sync.Mutex
	streams  map[uint32]*Stream
	nextID   uint32
	lastPeer uint32 // the highest stream ID the peer opened
	inbound  int    // streams the peer opened, still open
	accepted chan *Stream

	done      chan struct{} // closed when the link fails or closes
	life      context.Context
	endLife   context.CancelFunc // with done
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New returns a link waiting for its first path (see Attach); its grace
// period starts now. Exactly one side of a pair is the initiator (say the
// one whose node ID is smaller); stream IDs are split by it.
func New(cfg Config, initiator bool) (*Link, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Link{
		cfg:       cfg,
		initiator: initiator,
		start:     time.Now(),
		state:     StateWaiting,
		kick:      make(chan struct{}, 1),
		streams:   make(map[uint32]*Stream),
		accepted:  make(chan *Stream, cfg.AcceptBacklog),
		done:      make(chan struct{}),
		nextID:    2,
	}
	if initiator {
		l.nextID = 1
	}
	rand.Read(l.nonce[:])
	l.life, l.endLife = context.WithCancel(context.Background())
	l.space.L = &l.mu
	l.lostAt = l.start
	// The timers' functions take l.mu first: holding it here orders
	// these writes before any of their reads.
	l.mu.Lock()
	l.grace = time.AfterFunc(cfg.Grace, l.graceOver)
	l.ticker = time.AfterFunc(cfg.PingInterval, l.tick)
	l.mu.Unlock()
	return l, nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// now is the link's clock: time since New (monotonic).
func (l *Link) now() int64 { return int64(time.Since(l.start)) }

// Done is closed when the link has failed or closed; Err says why.
func (l *Link) Done() <-chan struct{} { return l.done }

// Err returns why the link failed (a *LinkError), or nil while it lives.
func (l *Link) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// State returns the link's state.
func (l *Link) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state
}

// RTT returns the last round trip a ping measured (0 before the first).
func (l *Link) RTT() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rtt
}

// activeAt is when the link last sent or received reliable bytes (zero
// before any).
func (l *Link) activeAt() time.Time {
	a := l.active.Load()
	if a == 0 {
		return time.Time{}
	}
	return l.start.Add(time.Duration(a))
}

// Stats returns a snapshot of the link.
func (l *Link) Stats() Stats {
	l.smu.Lock()
	n := len(l.streams)
	l.smu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		State:    l.state,
		RTT:      l.rtt,
		Sent:     l.sentMax,
		Received: l.recv.Load(),
		Unacked:  l.held(),
		Streams:  n,
		Paths:    l.paths,
		Active:   l.activeAt(),
	}
}

// emit reports an event; l.mu is held, so events keep their order.
func (l *Link) emit(ev Event) {
	ev.Time = time.Now()
	if ev.Reason != "" || ev.Err != nil {
		l.cfg.Logger.Info("session: "+string(ev.Kind), "reason", ev.Reason, "err", ev.Err)
	} else {
		l.cfg.Logger.Debug("session: " + string(ev.Kind))
	}
	if l.cfg.OnEvent != nil {
		l.cfg.OnEvent(ev)
	}
}

func (l *Link) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// tick pings the current path and declares it dead after DeadAfter of
// silence.
func (l *Link) tick() {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return
	}
	l.ticker.Reset(l.cfg.PingInterval)
	p := l.cur
	if p == nil {
		l.mu.Unlock()
		return
	}
	idle := time.Duration(l.now() - p.lastRecv.Load())
	if idle < l.cfg.DeadAfter {
		p.ping = true
		if l.recv.Load() > l.ackedSent.Load() {
			p.ack = true
		}
		l.mu.Unlock()
		l.wake()
		return
	}
	l.mu.Unlock()
	l.pathDown(p, fmt.Sprintf("no frame for %v", idle.Round(time.Millisecond)))
}

// ExtendGrace makes the link wait at least d for a path (it never
// shortens the wait: its streams may need the longer one); a wait under
// way then ends d after it began.
func (l *Link) ExtendGrace(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d <= l.cfg.Grace {
		return
	}
	l.cfg.Grace = d
	if l.cur == nil && l.err == nil && !l.lostAt.IsZero() {
		l.grace.Reset(max(0, d-time.Since(l.lostAt)))
	}
}

// Grace returns how long the link waits for a path.
func (l *Link) Grace() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cfg.Grace
}

// graceOver fails the link when the grace period ends without a path.
func (l *Link) graceOver() {
	l.mu.Lock()
	if l.cur != nil || l.err != nil {
		l.mu.Unlock()
		return
	}
	grace := l.cfg.Grace
	l.mu.Unlock()
	l.fail(&LinkError{Err: ErrNoPath, Reason: fmt.Sprintf("no path for %v", grace)})
}

// pathDown reacts to the death of p: when it is the current path, the
// link waits for another for the grace period.
func (l *Link) pathDown(p *path, reason string) {
	l.mu.Lock()
	if l.cur != p || l.err != nil {
		l.mu.Unlock()
		p.stop()
		return
	}
	l.cur = nil
	l.lostAt = time.Now()
	l.grace.Reset(l.cfg.Grace)
	if l.closeWait {
		// Close is under way; the peer ended the path on our close.
		l.space.Broadcast()
	} else if l.attaching > 0 {
		// The peer moved to the path being attached and closed this
		// one: an upgrade, unless the attach fails (see attachDone).
		l.moving = true
		l.lostReason = reason
	} else {
		l.state = StateWaiting
		l.emit(Event{Kind: EventLost, Path: p.rw, Reason: reason})
	}
	l.space.Broadcast()
	l.mu.Unlock()
	p.stop()
}

// fail ends the link with err: the path closes, timers stop, every stream
// fails. It may run on the link's own goroutines, so it does not wait for
// them (Close does).
func (l *Link) fail(err error) {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return
	}
	l.err = err
	l.state = StateFailed
	p := l.cur
	l.cur = nil
	l.grace.Stop()
	l.ticker.Stop()
	l.space.Broadcast()
	l.emit(Event{Kind: EventFailed, Err: err, Reason: err.Error()})
	l.mu.Unlock()
	if p != nil {
		p.stop()
	}
	close(l.done)
	l.endLife()
	l.smu.Lock()
	streams := make([]*Stream, 0, len(l.streams))
	for _, s := range l.streams {
		streams = append(streams, s)
	}
	clear(l.streams)
	l.smu.Unlock()
	for _, s := range streams {
		s.linkFailed(err)
	}
}

// Close ends the link: it tells the peer, waits up to
// Config.CloseTimeout for the peer to acknowledge what was sent, then
// closes the path; open streams fail with ErrClosed. It waits for the
// link's goroutines.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		if l.err == nil && l.cur != nil {
			l.buf.frame(frameClose, 0, []byte("closed"))
			l.wake()
			p := l.cur
			l.closeWait = true
			t := time.AfterFunc(l.cfg.CloseTimeout, func() {
				l.mu.Lock()
				l.closeWait = false
				l.space.Broadcast()
				l.mu.Unlock()
			})
			for l.err == nil && l.closeWait && l.cur == p && l.acked < l.buf.end {
				l.space.Wait()
			}
			t.Stop()
		}
		l.mu.Unlock()
		l.fail(&LinkError{Err: ErrClosed})
		l.wg.Wait()
		l.mu.Lock()
		l.buf.free()
		l.mu.Unlock()
	})
	return nil
}

// held is what the send buffer holds for the peer: every reliable byte
// from the first it may still need (unacknowledged, or acknowledged
// before we even wrote it) to the end. l.mu is held.
func (l *Link) held() int64 { return l.buf.end - min(l.acked, l.sent) }

// dataLimit is what data frames may fill of the send buffer: the rest is
// kept for control frames (window updates, opens, ends and aborts), which
// never wait.
func (l *Link) dataLimit() int64 {
	sb := int64(l.cfg.SendBuffer)
	reserve := min(max(sb/8, 16<<10), sb-(MaxPayload+headerLen))
	return sb - reserve
}

// sendCtrl appends a small reliable frame without waiting for buffer
// space (opens, windows, ends, aborts), so the reader never blocks. What
// it queues counts against the send buffer too: a peer that lets it
// overflow (it does not read, yet makes us answer) loses the link.
func (l *Link) sendCtrl(t frameType, stream uint32, payload []byte) error {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return l.err
	}
	if held, size := l.held(), int64(headerLen+len(payload)); held+size > int64(l.cfg.SendBuffer) {
		l.mu.Unlock()
		err := &LinkError{Err: ErrBacklog, Reason: fmt.Sprintf("%d bytes queued for the peer, %d more to send, the cap is %d", held, size, l.cfg.SendBuffer)}
		l.fail(err)
		return err
	}
	l.buf.frame(t, stream, payload)
	l.mu.Unlock()
	l.wake()
	return nil
}

// queueCtrl appends a control frame without checking the cap, for a
// caller that waited for room (see Open) and holds l.smu (which fail
// takes).
func (l *Link) queueCtrl(t frameType, stream uint32, payload []byte) error {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return l.err
	}
	l.buf.frame(t, stream, payload)
	l.mu.Unlock()
	l.wake()
	return nil
}

// waitRoom waits, l.mu held, until n more bytes fit below the data limit
// (or the buffer is empty), or stop says to give up.
func (l *Link) waitRoom(n int64, stop func() bool) {
	for l.err == nil && !stop() {
		if held := l.held(); held == 0 || held+n <= l.dataLimit() {
			return
		}
		l.space.Wait()
	}
}

// sendData appends a data frame (prefix then b) once the send buffer has
// room, waiting as long as it takes unless the stream or link ends.
func (l *Link) sendData(s *Stream, prefix, b []byte) error {
	l.mu.Lock()
	l.waitRoom(int64(headerLen+len(prefix)+len(b)), func() bool { return s.stop.Load() || s.wexp.Load() })
	if l.err != nil {
		l.mu.Unlock()
		return s.failure(l.err)
	}
	if s.stop.Load() {
		l.mu.Unlock()
		return s.failure(nil)
	}
	if s.wexp.Load() {
		l.mu.Unlock()
		return os.ErrDeadlineExceeded
	}
	var h [headerLen]byte
	l.buf.append(appendHeader(h[:0], frameData, s.id, len(prefix)+len(b)))
	l.buf.append(prefix)
	l.buf.append(b)
	l.mu.Unlock()
	l.wake()
	return nil
}

// onAck records the peer's acknowledgement of every reliable byte before
// off.
func (l *Link) onAck(off int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off > l.buf.end {
		return fmt.Errorf("%w: ack of %d beyond the %d bytes sent", ErrProtocol, off, l.buf.end)
	}
	if off > l.acked {
		l.acked = off
		l.buf.release(min(l.acked, l.sent))
		l.space.Broadcast()
	}
	return nil
}
