// Package keyrate limits how often something may happen for one key (a
// peer's node ID, a source IP) and for all keys together, with token
// buckets (golang.org/x/time/rate). It keeps a bucket per key it has seen,
// at most MaxKeys of them, so a flood of fresh keys cannot grow it without
// bound (the global bucket still holds such a flood back).
package keyrate

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Config sets the rates. Every field is required but Idle.
type Config struct {
	PerKey      rate.Limit // events per second for one key
	PerKeyBurst int
	Global      rate.Limit // events per second for all keys together
	GlobalBurst int
	MaxKeys     int // buckets kept at most
	// Idle is how long a key's bucket must have been unused before it may
	// be forgotten ahead of others; default 10 minutes.
	Idle time.Duration
}

// Limiter is a set of per-key buckets and a global one. It is safe for
// concurrent use.
type Limiter[K comparable] struct {
	cfg    Config
	global *rate.Limiter

	mu   sync.Mutex
	keys map[K]*bucket
}

type bucket struct {
	*rate.Limiter
	used time.Time
}

// New returns a Limiter.
func New[K comparable](cfg Config) *Limiter[K] {
	if cfg.Idle <= 0 {
		cfg.Idle = 10 * time.Minute
	}
	return &Limiter[K]{
		cfg:    cfg,
		global: rate.NewLimiter(cfg.Global, cfg.GlobalBurst),
		keys:   make(map[K]*bucket),
	}
}

// Allow reports whether one event for k may happen now, taking a token
// from k's bucket and, if that had one, from the global bucket.
func (l *Limiter[K]) Allow(k K) bool {
	now := time.Now()
	l.mu.Lock()
	b, ok := l.keys[k]
	if !ok {
		if len(l.keys) >= l.cfg.MaxKeys {
			l.evict(now)
		}
		b = &bucket{Limiter: rate.NewLimiter(l.cfg.PerKey, l.cfg.PerKeyBurst)}
		l.keys[k] = b
	}
	b.used = now
	ok = b.AllowN(now, 1)
	l.mu.Unlock()
	return ok && l.global.AllowN(now, 1)
}

// evict forgets idle buckets, or when none is idle, an arbitrary half.
func (l *Limiter[K]) evict(now time.Time) {
	for k, b := range l.keys {
		if now.Sub(b.used) > l.cfg.Idle {
			delete(l.keys, k)
		}
	}
	for k := range l.keys {
		if len(l.keys) < l.cfg.MaxKeys/2 {
			break
		}
		delete(l.keys, k)
	}
}

// Len is how many keys have a bucket.
func (l *Limiter[K]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
