package service

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reachd/reachd/session"
)

// flowQueue bounds the datagrams a UDP flow holds while its stream opens
// or its peer is slow; more are dropped, as a network would.
const flowQueue = 256

// flow is one UDP source address's stream.
type flow struct {
	src  netip.AddrPort
	in   chan []byte  // datagrams from the local source
	last atomic.Int64 // the last datagram either way, unix ns
}

// serveUDP reads local datagrams until the forward stops, each source
// address its own flow: a stream opened at its first datagram and ended
// after UDPIdle without a datagram either way.
func (f *forward) serveUDP() {
	var mu sync.Mutex
	flows := make(map[netip.AddrPort]*flow)
	buf := make([]byte, maxDatagram)
	for {
		n, src, err := f.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		mu.Lock()
		fl, ok := flows[src]
		if !ok && len(flows) >= f.m.cfg.MaxUDPFlows {
			mu.Unlock()
			f.ctr.failures.Add(1)
			continue
		}
		if !ok {
			fl = &flow{src: src, in: make(chan []byte, flowQueue)}
			fl.last.Store(time.Now().UnixNano())
			flows[src] = fl
			f.ctr.conns.Add(1)
			started := f.m.goroutine(func() {
				f.runFlow(fl)
				mu.Lock()
				delete(flows, src)
				mu.Unlock()
			})
			if !started {
				mu.Unlock()
				return
			}
		}
		mu.Unlock()
		select {
		case fl.in <- append([]byte(nil), buf[:n]...):
		default: // the flow is behind: drop
		}
	}
}

// runFlow opens a flow's stream and copies datagrams both ways until the
// flow is idle, the stream ends or the forward stops.
func (f *forward) runFlow(fl *flow) {
	f.ctr.active.Add(1)
	defer f.ctr.active.Add(-1)
	octx, cancel := context.WithTimeout(f.ctx, f.m.cfg.OpenTimeout)
	s, err := f.m.cfg.Opener.OpenService(octx, f.Peer, f.Service, true)
	cancel()
	if err != nil {
		f.ctr.failures.Add(1)
		f.m.log.Info("forward: no stream to the service", "id", f.ID, "peer", f.Peer, "service", f.Service, "err", err)
		return
	}
	stop := context.AfterFunc(f.ctx, func() { s.Abort("closing") })
	defer stop()
	done := make(chan struct{})
	go func() { // peer -> local; ends with the stream
		defer close(done)
		buf := make([]byte, maxDatagram)
		for {
			n, err := s.ReadFrame(buf)
			if err != nil {
				return
			}
			fl.last.Store(time.Now().UnixNano())
			f.ctr.received.Add(uint64(n))
			f.udp.WriteToUDPAddrPort(buf[:n], fl.src)
		}
	}()
	f.sendFlow(fl, s, done)
	s.Close()
	<-done
}

// sendFlow writes a flow's local datagrams to its stream until it is
// idle or the stream ends (done).
func (f *forward) sendFlow(fl *flow, s *session.Stream, done <-chan struct{}) {
	idle := time.NewTimer(f.m.cfg.UDPIdle)
	defer idle.Stop()
	for {
		select {
		case p := <-fl.in:
			fl.last.Store(time.Now().UnixNano())
			if err := s.WriteFrame(p); err != nil {
				return
			}
			f.ctr.sent.Add(uint64(len(p)))
		case <-idle.C:
			left := f.m.cfg.UDPIdle - time.Since(time.Unix(0, fl.last.Load()))
			if left <= 0 {
				return
			}
			idle.Reset(left)
		case <-done:
			return
		case <-f.ctx.Done():
			return
		}
	}
}
