package punch

import (
	"math/rand/v2"
	"time"
)

// nextSlot is when to dial next: slot k begins at start+k*interval, and
// the next slot is the first that begins after the last dial began and not
// before now. Most slots dial at their beginning; every fourth (k%4 == 3)
// dials later in the slot, by dither(interval), which lies in
// [0, interval).
//
// This serves paths whose NAT answers an early SYN with a reset, where the
// two sides' SYNs must cross within about one path latency L. When the
// shared clocks agree better than L, the undithered slots, on the same grid
// at both peers, meet within a few tries; on a path with almost no latency
// (a lab on one host) nothing else would. When the clocks disagree by more
// than L, a fixed grid would miss every time; the dithered slots vary the
// phase between the peers, so each meets with probability about
// 2L/interval.
func nextSlot(start, last, now time.Time, interval time.Duration, dither func(time.Duration) time.Duration) time.Time {
	from := max(now.Sub(start), last.Sub(start)+1, 0)
	k := int64((from + interval - 1) / interval)
	at := start.Add(time.Duration(k) * interval)
	if k%4 == 3 {
		at = at.Add(dither(interval))
	}
	return at
}

// randomDither is a uniformly random offset in [0, interval).
func randomDither(interval time.Duration) time.Duration {
	return rand.N(interval)
}
