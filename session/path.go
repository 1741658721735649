package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxWrite bounds one write of reliable bytes to a path.
	maxWrite = sendChunk
	// ackEvery and ackDelay: the reader acknowledges after this many
	// reliable bytes, or this long after the data stopped coming.
	ackEvery = 128 << 10
	ackDelay = 5 * time.Millisecond
)

// path is one attached transport with its reader and writer goroutines.
type path struct {
	rw       io.ReadWriteCloser
	br       *frameReader
	quit     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
	lastRecv atomic.Int64 // Link.now of the last frame read
	ackTimer *time.Timer
	ackArmed atomic.Bool

	// Reader-only state.
	started bool  // the peer's resend frame arrived
	skip    int64 // reliable bytes to drop: the peer resent what we had

	// A path attached early (AttachEarly): our hello, for the rank, and
	// closed once the reader has taken the peer's hello or the path
	// ended; nil for a path attached after the hellos were exchanged.
	mine      hello
	helloDone chan struct{}

	// Guarded by Link.mu: control frames the writer owes.
	resend, ack, ping, pong bool
	pongVal                 uint64
}

func (p *path) stop() {
	p.stopOnce.Do(func() {
		close(p.quit)
		p.rw.Close()
		if p.ackTimer != nil {
			p.ackTimer.Stop()
		}
	})
}

func (l *Link) delayedAck(p *path) {
	p.ackArmed.Store(false)
	l.mu.Lock()
	if l.cur == p {
		p.ack = true
	}
	l.mu.Unlock()
	l.wake()
}

// readLoop reads the path's frames until it fails. Frames are handled in
// the read buffer (the whole frame is peeked), and the reliable offset
// advances only by whole frames, so a resume starts at a frame boundary.
func (l *Link) readLoop(p *path) {
	defer l.wg.Done()
	defer p.wg.Done()
	defer p.br.release()
	if p.helloDone != nil {
		ok := l.earlyHello(p)
		close(p.helloDone)
		if !ok {
			return
		}
	}
	for {
		b, err := p.br.peek(headerLen, true)
		if err != nil {
			l.pathDown(p, "read: "+err.Error())
			return
		}
		h, err := parseHeader(b)
		if err != nil {
			l.fail(&LinkError{Err: ErrProtocol, Reason: err.Error()})
			return
		}
		size := h.size()
		b, err = p.br.peek(size, false)
		if err != nil {
			l.pathDown(p, "read: "+err.Error())
			return
		}
		p.lastRecv.Store(l.now())
		if err := l.frame(p, h, b[headerLen:]); err != nil {
			if !errors.Is(err, errEnded) {
				l.fail(&LinkError{Err: ErrProtocol, Reason: err.Error()})
			}
			return
		}
		// Data keeps the read buffer for more; a control frame lets
		// it go when empty.
		p.br.idle = h.typ != frameData
		p.br.discard(size)
	}
}

// errEnded stops the reader after the peer closed the link.
var errEnded = errors.New("link ended")

// frame handles one frame read from p.
func (l *Link) frame(p *path, h header, payload []byte) error {
	if h.typ.reliable() {
		size := int64(h.size())
		if !p.started {
			return fmt.Errorf("%s frame before resend", h.typ)
		}
		if p.skip > 0 {
			if size > p.skip {
				return fmt.Errorf("resend does not start at a frame boundary")
			}
			p.skip -= size
			return nil
		}
		// Active before the payload is handed on: whoever reads it sees
		// the link active.
		l.active.Store(l.now())
		if err := l.handle(h, payload); err != nil {
			return err
		}
		n := l.recv.Add(size)
		unacked := n - l.ackedSent.Load()
		switch {
		case unacked >= ackEvery:
			l.mu.Lock()
			p.ack = true
			l.mu.Unlock()
			l.wake()
		case p.br.buffered() == int(size) && p.ackArmed.CompareAndSwap(false, true):
			p.ackTimer.Reset(ackDelay)
		}
		return nil
	}
	v := binary.BigEndian.Uint64(payload)
	switch h.typ {
	case frameResend:
		if p.started {
			return fmt.Errorf("a second resend frame")
		}
		r := l.recv.Load()
		if int64(v) > r {
			return fmt.Errorf("resend from %d, but we have only %d", v, r)
		}
		p.started = true
		p.skip = r - int64(v)
	case frameAck:
		return l.onAck(int64(v))
	case framePing:
		l.mu.Lock()
		p.pong, p.pongVal = true, v
		l.mu.Unlock()
		l.wake()
	case framePong:
		if rtt := time.Duration(l.now() - int64(v)); rtt >= 0 {
			l.mu.Lock()
			l.ponged(int64(v), rtt)
			l.mu.Unlock()
		}
	default:
		return fmt.Errorf("unexpected %s frame", h.typ)
	}
	return nil
}

// writeLoop writes the reliable stream and the owed control frames to p.
// Control frames go only between reliable frames, which it finds by
// walking the frame headers in the send buffer.
func (l *Link) writeLoop(p *path) {
	defer l.wg.Done()
	defer p.wg.Done()
	var ctl [4 * (headerLen + 8)]byte
	for {
		l.mu.Lock()
		b := ctl[:0]
		if p.resend {
			b = appendU64(b, frameResend, uint64(l.sent))
			p.resend = false
		}
		if l.sent == l.bound {
			if p.ack {
				r := l.recv.Load()
				b = appendU64(b, frameAck, uint64(r))
				l.ackedSent.Store(r)
				p.ack = false
			}
			if p.pong {
				b = appendU64(b, framePong, p.pongVal)
				p.pong = false
			}
			if p.ping {
				b = appendU64(b, framePing, uint64(l.now()))
				p.ping = false
			}
		}
		var data []byte
		if len(b) == 0 {
			data = l.buf.slice(l.sent, maxWrite)
			if len(data) > 0 && (p.ack || p.pong || p.ping) {
				if lim := l.bound - l.sent; int64(len(data)) > lim {
					data = data[:lim]
				}
			}
		}
		l.mu.Unlock()

		switch {
		case len(b) > 0:
			if _, err := p.rw.Write(b); err != nil {
				l.pathDown(p, "write: "+err.Error())
				return
			}
		case len(data) > 0:
			n, err := p.rw.Write(data)
			if n > 0 {
				l.active.Store(l.now())
			}
			l.mu.Lock()
			if l.acked > l.sent {
				// The peer acknowledged bytes before they were written:
				// writing them frees room (see held).
				l.space.Broadcast()
			}
			l.sent += int64(n)
			l.sentMax = max(l.sentMax, l.sent)
			for l.bound < l.sent {
				l.bound += l.buf.frameLen(l.bound)
			}
			l.buf.release(min(l.acked, l.sent))
			l.mu.Unlock()
			if err != nil {
				l.pathDown(p, "write: "+err.Error())
				return
			}
		default:
			select {
			case <-l.kick:
			case <-p.quit:
				return
			}
		}
	}
}
