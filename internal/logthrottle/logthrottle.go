// Package logthrottle bounds how many log lines an event that a stranger can
// repeat at will (a spoofed packet, a full file table) may produce: a few at
// once, then one per interval, each carrying how many were held back since
// the previous one.
//
// It does not deduplicate by content: a message that names a sender's address
// differs for every spoofed source, so one budget covers them all.
package logthrottle

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults for zero arguments.
const (
	DefaultInterval = time.Second
	DefaultBurst    = 5
)

// SuppressedKey is the attribute that says how many records were held back
// before the one it is attached to.
const SuppressedKey = "suppressed"

// Limiter lets through burst events at once and then one per interval (a
// token bucket). It is safe for concurrent use.
type Limiter struct {
	interval time.Duration
	burst    float64

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

// New returns a Limiter of burst events refilled at one per interval. Zero or
// negative values mean DefaultInterval and DefaultBurst.
func New(interval time.Duration, burst int) *Limiter {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	return &Limiter{interval: interval, burst: float64(burst), tokens: float64(burst)}
}

// Allow reports whether an event may be logged now. When it may, suppressed
// is the number of events refused since the last one allowed.
func (l *Limiter) Allow() (ok bool, suppressed int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.interval))
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		return false, 0
	}
	l.tokens--
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// Handler is a slog.Handler that passes records below a level through and
// throttles the others with one Limiter per level, shared by every handler
// derived from it with WithAttrs and WithGroup.
type Handler struct {
	next     slog.Handler
	minLevel slog.Level
	limits   *levelLimits
}

type levelLimits struct {
	interval time.Duration
	burst    int
	mu       sync.Mutex
	byLevel  map[slog.Level]*Limiter
}

func (ll *levelLimits) get(level slog.Level) *Limiter {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	l, ok := ll.byLevel[level]
	if !ok {
		l = New(ll.interval, ll.burst)
		ll.byLevel[level] = l
	}
	return l
}

var _ slog.Handler = (*Handler)(nil)

// NewHandler returns a Handler that throttles next's records at minLevel and
// above (see New for interval and burst).
func NewHandler(next slog.Handler, minLevel slog.Level, interval time.Duration, burst int) *Handler {
	return &Handler{next: next, minLevel: minLevel, limits: &levelLimits{
		interval: interval, burst: burst, byLevel: make(map[slog.Level]*Limiter),
	}}
}

// Enabled reports whether next handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle passes r on unless its level's budget is spent.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.minLevel {
		return h.next.Handle(ctx, r)
	}
	ok, n := h.limits.get(r.Level).Allow()
	if !ok {
		return nil
	}
	if n > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int(SuppressedKey, n))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a Handler sharing h's budgets.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), minLevel: h.minLevel, limits: h.limits}
}

// WithGroup returns a Handler sharing h's budgets.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), minLevel: h.minLevel, limits: h.limits}
}
