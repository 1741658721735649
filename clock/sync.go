package clock

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/beevik/ntp"
)

type answer struct {
	offset time.Duration
	rtt    time.Duration
	err    error
}

// Sync queries every server concurrently, each within the timeout, and sets
// the offset to the median of the valid answers. It returns the new offset,
// or a *[NoAnswerError] when no server answered validly, in which case the
// previous offset is kept. Concurrent calls run one after the other.
func (c *Clock) Sync(ctx context.Context) (time.Duration, error) {
	select {
	case c.syncing <- struct{}{}:
		defer func() { <-c.syncing }()
	case <-ctx.Done():
		return 0, fmt.Errorf("clock: sync: %w", ctx.Err())
	}

	answers := make([]answer, len(c.servers))
	var wg sync.WaitGroup
	for i, srv := range c.servers {
		wg.Go(func() { answers[i] = c.ask(ctx, srv) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("clock: sync: %w", err)
	}

	var offsets []time.Duration
	var failures []*ServerError
	for i, a := range answers {
		if a.err != nil {
			failures = append(failures, &ServerError{Server: c.servers[i], Err: a.err})
			c.log.Debug("ntp server failed", "server", c.servers[i], "err", a.err)
			continue
		}
		offsets = append(offsets, a.offset)
		c.log.Debug("ntp answer", "server", c.servers[i], "offset", a.offset, "rtt", a.rtt)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.Asked = len(c.servers)
	c.status.Answered = len(offsets)
	if len(offsets) == 0 {
		err := &NoAnswerError{Failures: failures}
		c.status.LastError = err.Error()
		c.log.Warn("clock sync failed", "err", err)
		return 0, err
	}
	off := median(offsets)
	c.status.Offset = off
	c.status.LastSync = c.now()
	c.status.LastError = ""
	c.log.Info("clock synced", "offset", off, "answered", len(offsets), "asked", len(c.servers))
	return off, nil
}

// ask queries one server and validates its answer.
func (c *Clock) ask(ctx context.Context, server string) answer {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.query(server, ntp.QueryOptions{Timeout: c.timeout, Dialer: dialer(ctx)})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return answer{err: fmt.Errorf("query: %w (%w)", ctxErr, err)}
		}
		return answer{err: fmt.Errorf("query: %w", err)}
	}
	if resp == nil {
		return answer{err: fmt.Errorf("query: no response")}
	}
	if err := resp.Validate(); err != nil {
		return answer{err: fmt.Errorf("invalid answer (stratum %d): %w", resp.Stratum, err)}
	}
	return answer{offset: resp.ClockOffset, rtt: resp.RTT}
}

// dialer returns an ntp Dialer whose socket is closed when ctx ends, so a
// query stops when Sync's context is cancelled, not only at its timeout.
func dialer(ctx context.Context) func(localAddress, remoteAddress string) (net.Conn, error) {
	return func(localAddress, remoteAddress string) (net.Conn, error) {
		var d net.Dialer
		if localAddress != "" {
			ip := net.ParseIP(localAddress)
			if ip == nil {
				return nil, fmt.Errorf("bad local address %q", localAddress)
			}
			d.LocalAddr = &net.UDPAddr{IP: ip}
		}
		conn, err := d.DialContext(ctx, "udp", remoteAddress)
		if err != nil {
			return nil, err
		}
		// Runs when ask's context is cancelled at the latest; closing twice is harmless.
		context.AfterFunc(ctx, func() { conn.Close() })
		return conn, nil
	}
}

// median returns the median of ds (the mean of the two middle values for an
// even count). ds must not be empty; it is sorted in place.
func median(ds []time.Duration) time.Duration {
	slices.SortFunc(ds, cmp.Compare)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	a, b := ds[n/2-1], ds[n/2]
	return a + (b-a)/2
}
