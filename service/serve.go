package service

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/reachd/reachd/session"
)

// Serve connects a peer's stream to svc's target (found by Lookup) and
// copies both ways until both ends are done, in a goroutine the manager
// owns. A target that cannot be reached aborts the stream saying so.
func (m *Manager) Serve(s *session.Stream, svc Service) {
	ok := m.goroutine(func() {
		network := svc.Protocol
		ctx, cancel := context.WithTimeout(m.ctx, DefaultDialTimeout)
		c, err := m.cfg.Dial(ctx, network, svc.Target)
		cancel()
		if err != nil {
			m.log.Info("service target unreachable", "service", svc.Name, "target", svc.Target, "err", err)
			s.Abort("service target unreachable")
			return
		}
		switch c := c.(type) {
		case *net.UDPConn:
			m.serveUDP(c, s)
		default:
			pipe(m.ctx, c, s, nil)
		}
	})
	if !ok {
		s.Abort("closing")
	}
}

// serveUDP copies a flow's frames to the target's socket and its answers
// back, until the stream ends or neither side sends for UDPIdle.
func (m *Manager) serveUDP(c *net.UDPConn, s *session.Stream) {
	defer c.Close()
	var last atomic.Int64 // when the peer last sent a datagram, unix ns
	last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() { // ends when the stream does: c is closed after it
		defer close(done)
		buf := make([]byte, maxDatagram)
		for {
			n, err := s.ReadFrame(buf)
			if err != nil {
				c.Close()
				return
			}
			last.Store(time.Now().UnixNano())
			c.Write(buf[:n])
		}
	}()
	stop := context.AfterFunc(m.ctx, func() { s.Abort("closing") })
	defer stop()
	buf := make([]byte, maxDatagram)
	for {
		c.SetReadDeadline(time.Now().Add(m.cfg.UDPIdle))
		n, err := c.Read(buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < m.cfg.UDPIdle {
			continue // the peer sent lately: the flow is not idle
		}
		if err != nil {
			break
		}
		if err := s.WriteFrame(buf[:n]); err != nil {
			break
		}
	}
	s.Close()
	c.Close()
	<-done
}
