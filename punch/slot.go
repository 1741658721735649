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

// refusedGapDivisor sets how soon a dial that was refused (a reset: the
// peer's NAT answers a SYN it has no mapping for) is followed by the
// next: after a random part of Interval/refusedGapDivisor (200µs by
// default), not at the next slot.
const refusedGapDivisor = 100

// maxRefusedRedials bounds the dials one punch makes at once after a
// reset; the rest keep to the grid. Through two resetting NATs at 0.1ms
// a punch needed a few hundred (BenchmarkPunchResettingRouters).
const maxRefusedRedials = 1000

// refusedRedial is how long after a refused dial to dial again: a random
// part of interval/refusedGapDivisor (at least a microsecond).
//
// A reset means the peer's NAT had no mapping yet when our SYN came, and
// the reset took our own NAT's mapping with it (conntrack drops an entry a
// valid reset answers). Such NATs let the two sides' SYNs through only
// when they cross on the way, both sent within about one path latency L of
// each other; no SYN can open our mapping ahead of the peer's, as each is
// reset in turn (a SYN with a TTL too small to reach the peer's NAT would
// open ours first, but where the NATs are adjacent, as in the lab, no TTL
// passes one and stops short of the other). Where L is short (two NATs a
// LAN apart, or a lab on one host) the grid's dithered slots meet with
// probability 2L/interval each, a few percent: in the lab a punch
// connected in 6 of 20 tries, and with this 20 of 20
// (BenchmarkPunchResettingRouters). Redialing at once
// after each reset sends SYNs about every round trip plus a random gap,
// so each SYN meets the peer's with a fair chance; the rate is bounded by
// the round trip (one reset per SYN) and lasts only while the peer's NAT
// resets.
func refusedRedial(interval time.Duration, dither func(time.Duration) time.Duration) time.Duration {
	return max(dither(interval/refusedGapDivisor), time.Microsecond)
}
