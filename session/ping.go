package session

import (
	"context"
	"time"
)

// Ping sends a ping on the current path (or, while the link has none, on
// the next one attached, which is pinged at once) and returns the round
// trip of the first pong to a ping sent after the call began. It returns
// ctx's error when no pong comes in time, and the link's error once it
// has failed or closed.
func (l *Link) Ping(ctx context.Context) (time.Duration, error) {
	l.mu.Lock()
	asked := l.now()
	var pinged *path
	for {
		if l.err != nil {
			err := l.err
			l.mu.Unlock()
			return 0, err
		}
		if l.pongSent >= asked {
			rtt := l.rtt
			l.mu.Unlock()
			return rtt, nil
		}
		if p := l.cur; p != nil && p != pinged {
			// One ping per path: a pong lost with its path is asked for
			// again on the next.
			p.ping, pinged = true, p
			l.wake()
		}
		if l.pong == nil {
			l.pong = make(chan struct{})
		}
		pong := l.pong
		l.mu.Unlock()
		select {
		case <-pong:
		case <-l.done:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		l.mu.Lock()
	}
}

// ponged records a pong to the ping sent at sent (link time) that took
// rtt, and wakes the callers of Ping; l.mu is held.
func (l *Link) ponged(sent int64, rtt time.Duration) {
	l.rtt = rtt
	l.pongSent = max(l.pongSent, sent)
	if l.pong != nil {
		close(l.pong)
		l.pong = nil
	}
}
