package session

import (
	"context"
	"fmt"
	"io"
	"time"
)

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
	if err := l.install(rw, br, &ph, mine); err != nil {
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
// what the peer has. A path attached early (AttachEarly) comes without the
// peer's hello (ph nil): the writer resends from what the peer
// acknowledged, which the peer's resend offset lets it skip, and the reader
// takes the hello first (earlyHello).
func (l *Link) install(rw io.ReadWriteCloser, br *frameReader, ph *hello, mine hello) error {
	l.attachMu.Lock()
	defer l.attachMu.Unlock()

	l.mu.Lock()
	if cur := l.cur; cur != nil && cur.helloDone != nil {
		// The current path was attached early: its rank is known once
		// the peer's hello is read (or the path ends).
		l.mu.Unlock()
		select {
		case <-cur.helloDone:
		case <-l.done:
		}
		l.mu.Lock()
	}
	var rk rank
	if ph != nil {
		rk = rankOf(mine, *ph, l.initiator)
	}
	if l.cur != nil && ph != nil && rk.less(l.curRank) {
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
	start := l.acked
	if ph != nil {
		if err := l.checkReceived(*ph); err != nil {
			l.mu.Unlock()
			l.fail(err)
			l.mu.Lock()
			return err
		}
		start = max(int64(ph.Received), l.acked)
	}
	l.acked, l.sent, l.bound = start, start, start
	l.buf.release(start)
	l.space.Broadcast()

	p := &path{rw: rw, br: br, quit: make(chan struct{}), resend: true, ack: true, ping: true} // the ping measures the new path at once
	p.lastRecv.Store(l.now())
	p.ackTimer = time.AfterFunc(time.Hour, func() { l.delayedAck(p) })
	p.ackTimer.Stop()
	if ph != nil {
		l.peer = ph.Mine
	} else {
		p.mine, p.helloDone = mine, make(chan struct{})
	}
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

// AttachEarly is Attach for the side that will use the path at once (the
// one whose connect made it): it installs the path as soon as our hello
// is written, without waiting a round trip for the peer's, so streams
// opened next travel on the path right behind it. The reader takes the
// peer's hello first and checks it as Attach does: a peer that restarted
// fails the link (ErrPeerRestarted); a hello that names another link, a
// missing one (Config.HelloTimeout) or a path the peer refuses ends the
// path, and the link waits for another as after any lost path. While the
// peer's hello is outstanding, another path's attach waits for it, so
// that crossed attaches are ranked alike on both sides.
//
// When another attach is under way it is Attach.
func (l *Link) AttachEarly(ctx context.Context, rw io.ReadWriteCloser) error {
	l.mu.Lock()
	if err := l.err; err != nil {
		l.mu.Unlock()
		rw.Close()
		return err
	}
	if l.attaching > 0 {
		l.mu.Unlock()
		return l.Attach(ctx, rw)
	}
	l.attaching++
	mine := hello{Version: version, Mine: l.nonce, Yours: l.peer, Received: uint64(l.recv.Load()), Count: l.hellos}
	l.hellos++
	l.mu.Unlock()
	defer l.attachDone()

	ctx, cancel := context.WithTimeout(ctx, l.cfg.HelloTimeout)
	defer cancel()
	defer context.AfterFunc(l.life, cancel)()
	stop := context.AfterFunc(ctx, func() { rw.Close() })
	_, err := rw.Write(appendHello(make([]byte, 0, headerLen+helloLen), mine))
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		rw.Close()
		return fmt.Errorf("session: attach: write hello: %w", err)
	}
	br := new(frameReader)
	br.reset(rw)
	if err := l.install(rw, br, nil, mine); err != nil {
		br.release()
		rw.Close()
		return err
	}
	return nil
}

// earlyHello reads and checks the peer's hello on a path attached early,
// and ranks the path; false when the path or the link ended.
func (l *Link) earlyHello(p *path) bool {
	t := time.AfterFunc(l.cfg.HelloTimeout, func() {
		l.pathDown(p, fmt.Sprintf("no hello within %v", l.cfg.HelloTimeout))
	})
	ph, err := readHello(p.br)
	t.Stop()
	if err != nil {
		l.pathDown(p, err.Error())
		return false
	}
	if err := l.checkHello(ph); err != nil {
		l.pathDown(p, err.Error()) // a restarted peer failed the link already
		return false
	}
	l.mu.Lock()
	if err := l.checkReceived(ph); err != nil {
		l.mu.Unlock()
		l.fail(err)
		return false
	}
	l.peer = ph.Mine
	if l.cur == p {
		l.curRank = rankOf(p.mine, ph, l.initiator)
	}
	l.mu.Unlock()
	return true
}

// checkReceived checks the peer's count of what it received against what
// we sent; l.mu is held.
func (l *Link) checkReceived(ph hello) error {
	if int64(ph.Received) > l.buf.end {
		return &LinkError{Err: ErrProtocol, Reason: fmt.Sprintf("the peer received %d bytes, we sent %d", ph.Received, l.buf.end)}
	}
	return nil
}
