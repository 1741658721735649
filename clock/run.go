package clock

import (
	"context"
	"time"
)

// firstRetry is the first delay after a failed sync in Run; it doubles up
// to the interval.
const firstRetry = time.Second

// Run syncs at once and then every interval (DefaultInterval if not
// positive) until ctx is done. After a failed sync it retries sooner, after
// 1s, 2s, 4s... up to the interval. It blocks; the caller owns the
// goroutine it runs in.
func (c *Clock) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	retry := time.Duration(0)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next := interval
		if _, err := c.Sync(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			retry = min(max(2*retry, firstRetry), interval)
			next = retry
		} else {
			retry = 0
		}
		t.Reset(next)
	}
}
