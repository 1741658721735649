package punch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Dialer opens outbound connections. *net.Dialer implements it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

var _ Dialer = (*net.Dialer)(nil)

// DirectStagger is how long DialDirect lets one candidate try alone before
// it starts the next one as well (unless one fails sooner).
const DirectStagger = 150 * time.Millisecond

// DialDirect dials candidates over TCP in the order given (see
// [Candidates]), happy-eyeballs style: it starts the next candidate after
// [DirectStagger] or as soon as a running one fails, keeps the earlier ones
// running, and returns the first connection made. Every other attempt is
// cancelled, and any connection it still makes is closed before DialDirect
// returns. A nil d means a zero net.Dialer. DialDirect has no timeout of its
// own: ctx bounds it.
//
// When no candidate connects the error is a *[DialError] with every
// candidate's failure; with no candidates it is [ErrNoCandidates].
func DialDirect(ctx context.Context, candidates []netip.AddrPort, d Dialer) (net.Conn, error) {
	if len(candidates) == 0 {
		return nil, ErrNoCandidates
	}
	if d == nil {
		d = &net.Dialer{}
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		i    int
		conn net.Conn
		err  error
	}
	// Buffered for every candidate, so no dialing goroutine ever blocks.
	results := make(chan result, len(candidates))
	errs := make([]error, len(candidates))
	started, running := 0, 0
	start := func() {
		i := started
		started++
		running++
		go func() {
			c, err := d.DialContext(dctx, tcpNetwork(candidates[i].Addr()), candidates[i].String())
			results <- result{i, c, err}
		}()
	}

	stagger := time.NewTimer(DirectStagger)
	defer stagger.Stop()
	start()
	var won net.Conn
wait:
	for won == nil && (running > 0 || started < len(candidates)) {
		if running == 0 {
			start()
			stagger.Reset(DirectStagger)
			continue
		}
		var next <-chan time.Time
		if started < len(candidates) {
			next = stagger.C
		}
		select {
		case r := <-results:
			running--
			if r.err == nil {
				won = r.conn
				break wait
			}
			errs[r.i] = r.err
			if started < len(candidates) {
				start()
				stagger.Reset(DirectStagger)
			}
		case <-next:
			start()
			stagger.Reset(DirectStagger)
		case <-dctx.Done():
			break wait
		}
	}

	// Stop the others and wait for every goroutine; close late winners.
	cancel()
	for ; running > 0; running-- {
		r := <-results
		if r.err != nil {
			errs[r.i] = r.err
		} else {
			r.conn.Close()
		}
	}
	if won != nil {
		return won, nil
	}
	de := &DialError{Attempts: make([]Attempt, len(candidates))}
	for i, c := range candidates {
		err := errs[i]
		if err == nil {
			err = fmt.Errorf("not tried: %w", context.Cause(ctx))
		}
		de.Attempts[i] = Attempt{Addr: c, Err: err}
	}
	if ctx.Err() != nil && !errors.Is(de, ctx.Err()) {
		// Make sure the caller sees why it stopped.
		return nil, fmt.Errorf("%w: %w", de, context.Cause(ctx))
	}
	return nil, de
}

// tcpNetwork is the Go network name for dialing ip.
func tcpNetwork(ip netip.Addr) string {
	if ip.Unmap().Is4() {
		return "tcp4"
	}
	return "tcp6"
}
