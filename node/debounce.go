package node

import (
	"context"
	"slices"
	"sync"
	"time"
)

// debouncer gathers triggers that come in bursts (a network change sends
// a dozen netlink messages; a WAN change loses every path at once) into
// one call: fn runs quiet after the last trigger, or most after the
// first, whichever comes first, with the reasons of every trigger since
// it last ran. A trigger while fn runs makes it run once more after.
type debouncer struct {
	quiet, most time.Duration

	mu      sync.Mutex
	reasons []string
	first   time.Time     // the first trigger of the reasons gathered
	last    time.Time     // and the last
	kick    chan struct{} // capacity 1
}

func newDebouncer(quiet, most time.Duration) *debouncer {
	return &debouncer{quiet: quiet, most: most, kick: make(chan struct{}, 1)}
}

// trigger asks for a run, for reason; it never blocks.
func (d *debouncer) trigger(reason string) {
	d.mu.Lock()
	d.last = time.Now()
	if len(d.reasons) == 0 {
		d.first = d.last
	}
	if !slices.Contains(d.reasons, reason) {
		d.reasons = append(d.reasons, reason)
	}
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// run calls fn for each burst of triggers until ctx ends. last is when
// the burst's last trigger came.
func (d *debouncer) run(ctx context.Context, fn func(reasons []string, last time.Time)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		}
		d.mu.Lock()
		first, pending := d.first, len(d.reasons) > 0
		d.mu.Unlock()
		if !pending {
			continue // the kick of a trigger the last run took along
		}
		t := time.NewTimer(min(d.quiet, max(d.most-time.Since(first), 0)))
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-d.kick:
				t.Reset(max(min(d.quiet, d.most-time.Since(first)), 0))
			case <-t.C:
				break wait
			}
		}
		d.mu.Lock()
		reasons, last := d.reasons, d.last
		d.reasons = nil
		d.mu.Unlock()
		if len(reasons) > 0 {
			fn(reasons, last)
		}
	}
}
