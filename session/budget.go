package session

import "sync"

// Budget bounds the bytes that peers may make a set of links hold for
// their readers: what streams received and were not read, and what they
// allow peers to send (their windows). Links share it through
// Config.RecvBudget. Every stream a peer opens reserves the protocol's
// initial window (256 KiB) of it while it lives, so a full budget also
// refuses new streams from peers; windows above that shrink as the budget
// fills, down to one frame, and grow back as it empties. A stream whose
// reader took everything and got no window waits for budget released by
// others.
//
// Streams we open ourselves reserve their initial window even beyond the
// limit: what we open is ours to decide.
type Budget struct {
	limit int64

	mu      sync.Mutex
	used    int64
	refused int64
	starved []*Stream // streams with nothing outstanding, waiting for room
}

// NewBudget returns a budget of limit bytes (at least one stream's
// initial window).
func NewBudget(limit int64) *Budget {
	return &Budget{limit: max(limit, initialWindow)}
}

// Limit returns the budget's size.
func (b *Budget) Limit() int64 { return b.limit }

// Used returns the bytes reserved now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Refused counts the streams refused because the budget was full.
func (b *Budget) Refused() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refused
}

// reserveOpen reserves n bytes for a stream the peer opens, all or
// nothing; false counts a refusal.
func (b *Budget) reserveOpen(n int64) bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		b.refused++
		return false
	}
	b.used += n
	return true
}

// force reserves n bytes even beyond the limit.
func (b *Budget) force(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

// grant returns how much more a stream that has outstanding bytes
// reserved (received or promised) and already holds free (read, not yet
// granted again) may grant its peer, for a window of want: the window
// shrinks once half the budget is used, never below one frame. The bytes
// beyond free are reserved. When it grants nothing and nothing is
// outstanding, s waits for room (see give).
// When bytes were given back, the streams that waited for room come
// back too (see give).
func (b *Budget) grant(s *Stream, want, outstanding, free int64) (int64, []*Stream) {
	target := want
	if b == nil {
		return max(0, target-outstanding), nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if half := b.limit / 2; b.used > half {
		target = max(MaxPayload, want*(b.limit-b.used)/half)
	}
	g := max(0, target-outstanding)
	var wake []*Stream
	if more := g - free; more > 0 {
		more = min(more, max(0, b.limit-b.used))
		b.used += more
		g = free + more
	} else if more < 0 {
		b.used += more // what the smaller window does not need
		wake, b.starved = b.starved, nil
	}
	if g == 0 && outstanding == 0 {
		b.starved = append(b.starved, s)
	}
	return g, wake
}

// give returns n bytes and the streams that waited for room; the caller
// retries them with no lock held.
func (b *Budget) give(n int64) []*Stream {
	if b == nil || n == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if len(b.starved) == 0 {
		return nil
	}
	w := b.starved
	b.starved = nil
	return w
}
