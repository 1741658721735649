package signaling

import (
	"container/heap"
	"math"
	"sync"
	"time"
)

// Defaults of the replay cache.
const (
	// DefaultReplayCacheSize is the default capacity of the replay cache.
	DefaultReplayCacheSize = 10000
	// DefaultReplayWindow is how old a message may be and still never be
	// dropped as too_old once the client has started, however full the cache.
	DefaultReplayWindow = 10 * time.Second
)

// replaySenderShare is the divisor of the cache size that gives one sender's
// share: no sender holds more than a tenth of the cache.
const replaySenderShare = 10

// replayCache remembers accepted messages by (from, id) until they expire.
//
// Invariant: every message accepted with ts > cutoff (the cache's) and ts >
// its sender's cutoff, whose expiry has not yet passed, is in the cache, so
// its replay is dropped (replay); a message at or below either cutoff
// cannot be proven new and is dropped (too_old). The cache's cutoff starts
// just before the time the cache was created (messages sent earlier may
// have been seen by an earlier process).
//
// Memory is bounded two ways, neither of which lets a flood silence anyone
// else, nor silences an honest sender that talks a lot:
//   - one sender holds at most perSender entries; beyond, its oldest entry
//     (by ts) is forgotten and that sender's own cutoff rises to its ts, so
//     that a sender keeps its newest messages and only its own older ones
//     become too_old. A sender's cutoff is forgotten once every message it
//     covered has expired.
//   - the cache holds at most max entries. When it is full, the cache's
//     cutoff rises to now-window, never further, and the entries at or below
//     it are forgotten; if it is still full (max messages younger than
//     window from many senders), the new message is dropped (replay_full),
//     and the receiver answers a request with an error at once.
//
// So a message younger than window is never dropped as too_old because of
// what other senders sent (the old design raised the cutoff to the ts of
// the evicted entry: a flood dated in the future pushed it past the present
// and every genuine message was dropped).
//
// Times are unix milliseconds.
type replayCache struct {
	mu        sync.Mutex
	max       int
	perSender int
	window    int64
	cutoff    int64
	seen      map[string]*replayEntry
	senders   map[string]*replaySender
	idle      []string   // senders with no entry left, whose cutoff still counts
	byExp     replayHeap // for expiry
	byTS      replayHeap // for raising the cutoff when full
}

// replaySender is what the cache keeps per sender.
type replaySender struct {
	byTS      replayHeap // its entries, oldest first
	cutoff    int64      // its messages at or below are too_old
	cutoffExp int64      // when every message below cutoff has expired
}

type replayEntry struct {
	key, from string
	ts, exp   int64
	idx       [3]int // position in byExp, byTS and its sender's byTS
}

// newReplayCache returns a cache of size entries whose cutoff starts at
// start-1 and never rises above now-window.
func newReplayCache(size int, window time.Duration, start int64) *replayCache {
	return &replayCache{
		max:       size,
		perSender: max(1, size/replaySenderShare),
		window:    window.Milliseconds(),
		cutoff:    start - 1,
		seen:      make(map[string]*replayEntry),
		senders:   make(map[string]*replaySender),
		byExp:     replayHeap{which: 0},
		byTS:      replayHeap{which: 1},
	}
}

// check records (from, id) as seen if it is new and returns "" on success, or
// the reason to drop it. now is used to expire old entries.
func (c *replayCache) check(from, id string, ts, exp, now int64) DropReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.byExp.Len() > 0 && c.byExp.es[0].exp < now {
		c.remove(c.byExp.es[0], now)
	}
	for len(c.idle) > 0 {
		s := c.senders[c.idle[0]]
		if s != nil && s.byTS.Len() == 0 && s.cutoffExp >= now {
			break
		}
		if s != nil && s.byTS.Len() == 0 {
			delete(c.senders, c.idle[0])
		}
		c.idle = c.idle[1:]
	}
	if ts <= c.cutoff {
		return DropTooOld
	}
	s := c.senders[from]
	if s != nil && ts <= s.cutoff {
		return DropTooOld
	}
	key := from + "/" + id
	if _, ok := c.seen[key]; ok {
		return DropReplay
	}
	if s != nil && s.byTS.Len() >= c.perSender {
		// The sender's share is full: its oldest message makes room,
		// unless this one is older still.
		oldest := s.byTS.es[0]
		if ts < oldest.ts {
			return DropTooOld
		}
		s.cutoff, s.cutoffExp = max(s.cutoff, oldest.ts), max(s.cutoffExp, oldest.exp)
		c.remove(oldest, now)
		if ts <= s.cutoff { // new, but its replay is now too_old
			return ""
		}
	}
	if len(c.seen) >= c.max {
		c.cutoff = max(c.cutoff, now-c.window)
		for c.byTS.Len() > 0 && c.byTS.es[0].ts <= c.cutoff {
			c.remove(c.byTS.es[0], now)
		}
		if len(c.seen) >= c.max {
			return DropReplayFull
		}
		if ts <= c.cutoff { // checked above against the old cutoff: new, but its replay is now too_old
			return ""
		}
	}
	if s = c.senders[from]; s == nil {
		s = &replaySender{byTS: replayHeap{which: 2}, cutoff: math.MinInt64}
		c.senders[from] = s
	}
	e := &replayEntry{key: key, from: from, ts: ts, exp: exp}
	c.seen[key] = e
	heap.Push(&c.byExp, e)
	heap.Push(&c.byTS, e)
	heap.Push(&s.byTS, e)
	return ""
}

func (c *replayCache) remove(e *replayEntry, now int64) {
	heap.Remove(&c.byExp, e.idx[0])
	heap.Remove(&c.byTS, e.idx[1])
	delete(c.seen, e.key)
	s := c.senders[e.from]
	heap.Remove(&s.byTS, e.idx[2])
	if s.byTS.Len() == 0 {
		if s.cutoffExp < now {
			delete(c.senders, e.from)
		} else {
			c.idle = append(c.idle, e.from)
		}
	}
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// replayHeap orders entries by exp (which 0) or ts (which 1 and 2) and keeps each
// entry's index in it up to date, so that any entry can be removed.
type replayHeap struct {
	which int
	es    []*replayEntry
}

func (h *replayHeap) key(i int) int64 {
	if h.which == 0 {
		return h.es[i].exp
	}
	return h.es[i].ts // byTS and a sender's
}

func (h *replayHeap) Len() int           { return len(h.es) }
func (h *replayHeap) Less(i, j int) bool { return h.key(i) < h.key(j) }
func (h *replayHeap) Swap(i, j int) {
	h.es[i], h.es[j] = h.es[j], h.es[i]
	h.es[i].idx[h.which] = i
	h.es[j].idx[h.which] = j
}
func (h *replayHeap) Push(x any) {
	e := x.(*replayEntry)
	e.idx[h.which] = len(h.es)
	h.es = append(h.es, e)
}
func (h *replayHeap) Pop() any {
	e := h.es[len(h.es)-1]
	h.es[len(h.es)-1] = nil
	h.es = h.es[:len(h.es)-1]
	return e
}
