package session

import (
	"context"
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

// Attach gives the link a new secured path, on either side: when the link
// has none (the first path, or after one died) it resumes on it; when it
// has one, the new path replaces it (an upgrade) and the old one is
// closed. Both sides must attach the two ends of the path. The sides first
// exchange hellos (link nonces and what each received), then each resends
// what the other misses: nothing is lost or duplicated.
//
// Attach fails, closing path, when the hello exchange fails or times out
// (ctx or Config.HelloTimeout), or the peer resumes another link
// (ErrUnknownLink); the link itself is unharmed and still takes paths. When
// the peer does not know this link (it restarted) the link fails at once
// with ErrPeerRestarted; when the link has failed Attach returns its error.
func (l *Link) Attach(ctx context.Context, rw io.ReadWriteCloser) error {
	l.mu.Lock()
	if err := l.err; err != nil {
		l.mu.Unlock()
		rw.Close()
		return err
	}
	l.attaching++
	l.mu.Unlock()
	defer l.attachDone()
	mine, ph, br, err := l.exchangeHello(ctx, rw)
	if err != nil {
		rw.Close()
		return fmt.Errorf("session: attach: %w", err)
	}
	if err := l.checkHello(ph); err != nil {
		br.release()
		rw.Close()
		return err
	}
	if err := l.install(rw, br, ph, rankOf(mine, ph, l.initiator)); err != nil {
		br.release()
		rw.Close()
		return err
	}
	return nil
}

// attachDone ends an Attach; when the path died during it and no other
// came, the loss is reported now.
func (l *Link) attachDone() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attaching--
	if l.attaching == 0 && l.moving {
		l.moving = false
		if l.cur == nil && l.err == nil {
			l.state = StateWaiting
			l.emit(Event{Kind: EventLost, Reason: l.lostReason})
		}
	}
}

// exchangeHello sends our hello and reads the peer's, both at once (a
// synchronous pipe would deadlock otherwise).
func (l *Link) exchangeHello(ctx context.Context, rw io.ReadWriteCloser) (mine, peer hello, br *frameReader, err error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.HelloTimeout)
	defer cancel()
	// A link that fails meanwhile ends the exchange too.
	defer context.AfterFunc(l.life, cancel)()
	stop := context.AfterFunc(ctx, func() { rw.Close() })
	defer stop()
	if ctx.Err() != nil {
		return mine, peer, nil, ctx.Err()
	}

	l.mu.Lock()
	mine = hello{Version: version, Mine: l.nonce, Yours: l.peer, Received: uint64(l.recv.Load()), Count: l.hellos}
	l.hellos++
	l.mu.Unlock()
	out := appendHello(make([]byte, 0, headerLen+helloLen), mine)
	wrote := make(chan error, 1)
	go func() {
		_, err := rw.Write(out)
		wrote <- err
	}()

	br = new(frameReader)
	br.reset(rw)
	ph, rerr := readHello(br)
	werr := <-wrote
	if !stop() {
		// The deadline closed the path.
		br.release()
		return mine, ph, nil, ctx.Err()
	}
	if rerr == nil {
		rerr = werr
	}
	if rerr != nil {
		br.release()
		return mine, ph, nil, rerr
	}
	return mine, ph, br, nil
}

// rank orders paths the same way on both sides (see hello).
type rank struct{ top, initiator uint32 }

func rankOf(mine, peer hello, initiator bool) rank {
	r := rank{top: max(mine.Count, peer.Count), initiator: peer.Count}
	if initiator {
		r.initiator = mine.Count
	}
	return r
}

func (r rank) less(o rank) bool {
	return r.top < o.top || r.top == o.top && r.initiator < o.initiator
}

func readHello(br *frameReader) (hello, error) {
	b, err := br.peek(headerLen, true)
	if err != nil {
		return hello{}, fmt.Errorf("read hello: %w", err)
	}
	h, err := parseHeader(b)
	if err != nil {
		return hello{}, err
	}
	if h.typ != frameHello {
		return hello{}, fmt.Errorf("%w: %s frame before the hello", ErrProtocol, h.typ)
	}
	b, err = br.peek(h.size(), false)
	if err != nil {
		return hello{}, fmt.Errorf("read hello: %w", err)
	}
	ph, err := parseHello(b[headerLen:])
	br.discard(h.size())
	return ph, err
}

// checkHello matches the peer's hello with what the link knows.
func (l *Link) checkHello(ph hello) error {
	if ph.Version != version {
		return fmt.Errorf("session: attach: %w: the peer speaks %d, we speak %d", ErrVersion, ph.Version, version)
	}
	l.mu.Lock()
	known := l.peer != [16]byte{}
	restarted := known && ph.Mine != l.peer
	unknown := ph.Yours != [16]byte{} && ph.Yours != l.nonce
	l.mu.Unlock()
	if restarted {
		err := &LinkError{Err: ErrPeerRestarted, Reason: "the peer's hello names another link"}
		l.fail(err)
		return err
	}
	if unknown {
		return fmt.Errorf("session: attach: %w", ErrUnknownLink)
	}
	return nil
}

// install makes rw the link's path: the old one (if any) stops first, so
// that what we received is final, then the writer starts by resending from
// what the peer has.
func (l *Link) install(rw io.ReadWriteCloser, br *frameReader, ph hello, rk rank) error {
	l.attachMu.Lock()
	defer l.attachMu.Unlock()

	l.mu.Lock()
	if l.cur != nil && rk.less(l.curRank) {
		// The peer attached the paths in the other order and keeps the
		// current one; so do we.
		l.mu.Unlock()
		return fmt.Errorf("session: attach: %w", ErrStalePath)
	}
	old := l.cur
	l.cur = nil
	prev := l.last // the path last installed, live or dead
	l.mu.Unlock()
	if prev != nil {
		// Its writer may still be returning from a write: only once it
		// has gone are the offsets ours to reset.
		prev.stop()
		prev.wg.Wait()
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	if int64(ph.Received) > l.buf.end {
		err := &LinkError{Err: ErrProtocol, Reason: fmt.Sprintf("the peer received %d bytes, we sent %d", ph.Received, l.buf.end)}
		l.mu.Unlock()
		l.fail(err)
		l.mu.Lock()
		return err
	}
	start := max(int64(ph.Received), l.acked)
	l.acked, l.sent, l.bound = start, start, start
	l.buf.release(start)
	l.space.Broadcast()

	p := &path{rw: rw, br: br, quit: make(chan struct{}), resend: true, ack: true}
	p.lastRecv.Store(l.now())
	p.ackTimer = time.AfterFunc(time.Hour, func() { l.delayedAck(p) })
	p.ackTimer.Stop()
	l.peer = ph.Mine
	l.cur = p
	l.curRank = rk
	l.last = p
	l.paths++
	ev := Event{Kind: EventResumed, Path: rw, Gap: time.Since(l.lostAt)}
	switch {
	case old != nil || l.moving:
		ev = Event{Kind: EventUpgraded, Path: rw}
		l.moving = false
	case l.paths == 1:
		ev = Event{Kind: EventAttached, Path: rw}
	}
	l.state = StateConnected
	l.grace.Stop()
	l.emit(ev)
	p.wg.Add(2)
	l.wg.Add(2)
	go l.readLoop(p)
	go l.writeLoop(p)
	return nil
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
			l.rtt = rtt
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
			l.mu.Lock()
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
