package service

import (
	"context"
	"net"
)

// serveTCP accepts local connections until the forward stops, each piped
// to a new stream to the peer's service.
func (f *forward) serveTCP() {
	ctx := f.ctx
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.ctr.conns.Add(1)
		if !f.m.goroutine(func() { f.handleTCP(ctx, c) }) {
			c.Close()
			return
		}
	}
}

// handleTCP opens a stream for a local connection and pipes the two; a
// stream that cannot open resets the local connection.
func (f *forward) handleTCP(ctx context.Context, c net.Conn) {
	f.ctr.active.Add(1)
	defer f.ctr.active.Add(-1)
	octx, cancel := context.WithTimeout(ctx, f.m.cfg.OpenTimeout)
	s, err := f.m.cfg.Opener.OpenService(octx, f.Peer, f.Service, false)
	cancel()
	if err != nil {
		f.ctr.failures.Add(1)
		f.m.log.Info("forward: no stream to the service", "id", f.ID, "peer", f.Peer, "service", f.Service, "err", err)
		reset(c)
		return
	}
	pipe(ctx, c, s, &f.ctr)
}
