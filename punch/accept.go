package punch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// acceptor accepts, on the punching port, the one connection from the
// peer's IP; it closes any other it gets.
type acceptor struct {
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{}
	wg    sync.WaitGroup
}

func (p *puncher) listen(ctx context.Context) (*acceptor, error) {
	lc := net.ListenConfig{Control: ReuseControl}
	ln, err := lc.Listen(ctx, p.network, p.cfg.LocalAddr.String())
	if err != nil {
		return nil, fmt.Errorf("punch: listen on %s: %w", p.cfg.LocalAddr, err)
	}
	a := &acceptor{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	want := p.cfg.Remote.Addr().Unmap()
	a.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					p.log.Debug("punch accept failed", "err", err)
				}
				return
			}
			var from netip.AddrPort
			if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
				from = ta.AddrPort()
			}
			if from.Addr().Unmap().WithZone("") != want.WithZone("") {
				p.log.Debug("punch refused stranger", "from", from)
				c.Close()
				continue
			}
			select {
			case a.conns <- c:
				return
			case <-a.done:
				c.Close()
				return
			}
		}
	})
	return a, nil
}

// close stops the acceptor and waits for it; a connection it has not
// handed over is closed.
func (a *acceptor) close() {
	close(a.done)
	a.ln.Close()
	a.wg.Wait()
}
