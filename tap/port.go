package tap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
)

// port is one peer link of a Switch.
type port struct {
	id      string
	sw      *Switch
	frames  FrameConn
	fb      FrameBuffer // frames as a FrameBuffer, or nil
	bufSize int

	// queue carries frames to writePeer; free returns their buffers. At
	// most cap(queue) buffers exist, so neither channel ever blocks.
	queue, free chan []byte
	allocated   int // buffers made; only enqueue (the device reader) touches it

	ctx     context.Context
	cancel  context.CancelFunc
	endOnce sync.Once
	running atomic.Int32  // goroutines not yet returned
	done    chan struct{} // closed when both returned

	source atomic.Pointer[sourceCheck] // nil: any source

	framesIn, bytesIn, framesOut, bytesOut, dropped, spoofed atomic.Uint64
}

func (p *port) exited() {
	if p.running.Add(-1) == 0 {
		close(p.done)
	}
}

// enqueue copies frame to the port's queue, or drops it when the queue is
// full.
func (p *port) enqueue(frame []byte) {
	var b []byte
	select {
	case b = <-p.free:
	default:
		if p.allocated == cap(p.queue) {
			p.dropped.Add(1)
			return
		}
		p.allocated++
		b = make([]byte, 0, p.bufSize)
	}
	p.queue <- append(b[:0], frame...)
}

func (p *port) writePeer() {
	for {
		var b []byte
		select {
		case <-p.ctx.Done():
			return
		case b = <-p.queue:
		}
		var err error
		if p.fb != nil {
			err = p.fb.BufferFrame(b)
			if err == nil && len(p.queue) == 0 {
				err = p.fb.Flush()
			}
		} else {
			err = p.frames.WriteFrame(b)
		}
		n := len(b)
		p.free <- b
		if err != nil {
			p.end(fmt.Errorf("tap: send frame to port %s: %w", p.id, err), true)
			return
		}
		p.framesOut.Add(1)
		p.bytesOut.Add(uint64(n))
	}
}

func (p *port) readPeer() {
	dev := p.sw.dev
	buf := make([]byte, p.bufSize)
	for {
		n, err := p.frames.ReadFrame(buf)
		if err != nil {
			if errors.Is(err, ErrFrameTooLarge) {
				dev.tooLarge.Add(1)
				continue
			}
			if err == io.EOF {
				p.end(nil, true)
			} else {
				p.end(fmt.Errorf("tap: receive frame from port %s: %w", p.id, err), true)
			}
			return
		}
		frame := buf[:n]
		if !dev.carries(frame) {
			continue
		}
		if c := p.source.Load(); c != nil && !c.allows(frame) {
			p.spoofed.Add(1)
			continue
		}
		p.framesIn.Add(1)
		p.bytesIn.Add(uint64(n))
		if frame[6]&1 == 0 { // a unicast source: learn where it lives
			p.sw.macs.learn([6]byte(frame[6:12]), p, p.sw.cfg.Now())
		}
		if _, err := dev.file.Write(frame); err != nil {
			switch {
			case errors.Is(err, os.ErrClosed):
				return // the device reader ends the switch
			case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.EIO):
				dev.invalid.Add(1)
				continue
			}
			p.end(fmt.Errorf("tap: write to %s: %w", dev.name, err), true)
			return
		}
		dev.framesIn.Add(1)
		dev.bytesIn.Add(uint64(n))
	}
}

// end stops the port once: it closes the link, unpublishes the port and
// forgets its MACs. onItsOwn reports a port that ended by itself (its
// peer, or an error) to SwitchConfig.PortEnded.
func (p *port) end(err error, onItsOwn bool) {
	p.endOnce.Do(func() {
		s := p.sw
		p.cancel()
		p.frames.Close()
		s.mu.Lock()
		if s.ports[p.id] == p {
			delete(s.ports, p.id)
			list := slices.DeleteFunc(slices.Clone(*s.list.Load()), func(q *port) bool { return q == p })
			s.list.Store(&list)
		}
		s.mu.Unlock()
		s.macs.forget(p)
		s.log.Debug("port ended", "port", p.id, "err", err)
		if onItsOwn && s.cfg.PortEnded != nil && s.ctx.Err() == nil {
			s.cfg.PortEnded(p.id, err)
		}
	})
}
