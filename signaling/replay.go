package signaling

import (
	"container/heap"
	"sync"
)

// DefaultReplayCacheSize is the default capacity of the replay cache.
const DefaultReplayCacheSize = 10000

// replayCache remembers accepted messages by (from, id) until they expire.
//
// Invariant: every message accepted with ts > horizon whose expiry has not yet
// passed is in the cache. Entries leave the cache in two ways: when they
// expire (a replay of them is then rejected as expired), or when the cache is
// full and the entry that expires first is evicted; the horizon then rises to
// that entry's ts, so its replay is rejected as too old. (The new message that
// caused the eviction is accepted even if its ts is now below the horizon: it
// was checked against the cache before the horizon moved.) The horizon starts
// just before the time the cache was created: messages sent earlier may have
// been seen by an earlier process and cannot be proven new.
//
// Times are unix milliseconds.
type replayCache struct {
	mu      sync.Mutex
	max     int
	horizon int64
	seen    map[string]struct{}
	byExp   expHeap
}

type replayEntry struct {
	key string
	ts  int64
	exp int64
}

func newReplayCache(max int, start int64) *replayCache {
	return &replayCache{max: max, horizon: start - 1, seen: make(map[string]struct{})}
}

// check records (from, id) as seen if it is new and returns "" on success, or
// the reason to drop it. now is used to expire old entries.
func (c *replayCache) check(from, id string, ts, exp, now int64) DropReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.byExp) > 0 && c.byExp[0].exp < now {
		delete(c.seen, heap.Pop(&c.byExp).(replayEntry).key)
	}
	if ts <= c.horizon {
		return DropTooOld
	}
	key := from + "/" + id
	if _, ok := c.seen[key]; ok {
		return DropReplay
	}
	for len(c.byExp) >= c.max {
		e := heap.Pop(&c.byExp).(replayEntry)
		delete(c.seen, e.key)
		c.horizon = max(c.horizon, e.ts)
	}
	c.seen[key] = struct{}{}
	heap.Push(&c.byExp, replayEntry{key: key, ts: ts, exp: exp})
	return ""
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byExp)
}

type expHeap []replayEntry

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expHeap) Push(x any)        { *h = append(*h, x.(replayEntry)) }
func (h *expHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
