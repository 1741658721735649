package session

import (
	"context"
	"encoding/binary"
	"fmt"
)

// handle applies one reliable frame from the peer.
func (l *Link) handle(h header, payload []byte) error {
	switch h.typ {
	case frameOpen:
		return l.peerOpen(h.stream, payload)
	case frameClose:
		l.fail(&LinkError{Err: ErrPeerClosed, Reason: string(payload)})
		return errEnded
	}
	s := l.stream(h.stream)
	if s == nil {
		// A stream that ended here; the peer's frames were in flight.
		if (h.stream%2 == 1) == l.initiator && h.stream >= l.nextIDLocked() {
			return fmt.Errorf("%s frame for stream %d, never opened", h.typ, h.stream)
		}
		return nil
	}
	switch h.typ {
	case frameData:
		return s.deliver(payload)
	case frameWindow:
		return s.addWindow(binary.BigEndian.Uint32(payload))
	case frameFin:
		return s.peerFin()
	case frameAbort:
		s.peerAbort(string(payload))
	case frameStop:
		s.peerStop()
	}
	return nil
}

func (l *Link) nextIDLocked() uint32 {
	l.smu.Lock()
	defer l.smu.Unlock()
	return l.nextID
}

// peerOpen takes a stream the peer opened, or refuses it with an abort
// when too many are open or waiting.
func (l *Link) peerOpen(id uint32, payload []byte) error {
	h, err := parseOpen(payload)
	if err != nil {
		return err
	}
	if (id%2 == 1) == l.initiator {
		return fmt.Errorf("the peer opened stream %d, one of ours", id)
	}
	l.smu.Lock()
	if id <= l.lastPeer {
		l.smu.Unlock()
		return fmt.Errorf("the peer reopened stream %d", id)
	}
	l.lastPeer = id
	refuse := ""
	var s *Stream
	if l.inbound >= l.cfg.MaxStreams {
		// Refusing each with an abort would let a peer that does not
		// read make us queue aborts for nothing: it broke the limit.
		l.smu.Unlock()
		return fmt.Errorf("the peer opened more than %d streams at once", l.cfg.MaxStreams)
	}
	var unreserve int64
	if !l.cfg.RecvBudget.reserveOpen(initialWindow) {
		refuse = "busy: the receive budget is full"
	} else {
		s = newStream(l, id, h)
		s.inbound = true
		select {
		case l.accepted <- s:
			l.streams[id] = s
			l.inbound++
		default:
			refuse = fmt.Sprintf("accept backlog full (%d)", l.cfg.AcceptBacklog)
			unreserve = initialWindow
		}
	}
	l.smu.Unlock()
	if refuse != "" {
		if unreserve > 0 {
			retry(l.cfg.RecvBudget.give(unreserve))
		}
		return l.sendCtrl(frameAbort, id, []byte(refuse))
	}
	s.grantExtra()
	return nil
}

// Open opens a stream to the peer. It does not wait for the peer: data may
// follow at once, and a refusal arrives as an abort.
func (l *Link) Open(ctx context.Context, h Header) (*Stream, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// An open waits for room in the send buffer as data does, so that
	// our own opens never overflow it.
	var b [headerLen + 1 + MaxServiceLen]byte
	l.mu.Lock()
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.space.Broadcast()
		l.mu.Unlock()
	})
	l.waitRoom(int64(headerLen+1+len(h.Service)), func() bool { return ctx.Err() != nil })
	l.mu.Unlock()
	stop()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.smu.Lock()
	if err := l.Err(); err != nil {
		l.smu.Unlock()
		return nil, err
	}
	id := l.nextID
	l.nextID += 2
	s := newStream(l, id, h)
	l.cfg.RecvBudget.force(initialWindow)
	l.streams[id] = s
	// The peer takes opens in the order of their IDs: the open frame is
	// queued before another Open takes the next ID.
	open := appendOpen(b[:0], id, h)
	err := l.queueCtrl(frameOpen, id, open[headerLen:])
	if err != nil {
		delete(l.streams, id)
	}
	l.smu.Unlock()
	if err != nil {
		retry(l.cfg.RecvBudget.give(initialWindow))
		return nil, err
	}
	s.grantExtra()
	return s, nil
}

// Accept waits for a stream the peer opened.
func (l *Link) Accept(ctx context.Context) (*Stream, error) {
	select {
	case s := <-l.accepted:
		return s, nil
	case <-l.done:
		// A stream accepted before the failure is still handed out.
		select {
		case s := <-l.accepted:
			return s, nil
		default:
		}
		return nil, l.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Link) removeStream(s *Stream) {
	l.smu.Lock()
	if l.streams[s.id] == s {
		delete(l.streams, s.id)
		if s.inbound {
			l.inbound--
		}
	}
	l.smu.Unlock()
}

func (l *Link) stream(id uint32) *Stream {
	l.smu.Lock()
	s := l.streams[id]
	l.smu.Unlock()
	return s
}
