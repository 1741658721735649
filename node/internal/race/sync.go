package race

import (
	"sync"
)

// Sync lets concurrent connects to one peer share one race, as
// go-libp2p's dial_sync shares one dial: the first connect leads the
// race, the others wait for its outcome.
type Sync struct {
	mu    sync.Mutex
	races map[string]*Shared // by peer node ID
}

// Shared is a connect's race for a path to a peer, which other connects
// to that peer wait for instead of racing too.
type Shared struct {
	// Strategies are those the leading connect races.
	Strategies []string
	done       chan struct{} // closed when the race and its attach ended
	err        error         // why it failed; nil when the link has its path
}

// Done is closed when the race has ended.
func (s *Shared) Done() <-chan struct{} { return s.done }

// Err is why the race failed, once Done; nil when it gave the peer's link
// a path, or when its connect gave up before the end.
func (s *Shared) Err() error { return s.err }

// Join returns the race for a path to peer in flight, or starts one that
// the caller leads (lead) and must end with End.
func (y *Sync) Join(peer string, strategies []string) (r *Shared, lead bool) {
	y.mu.Lock()
	defer y.mu.Unlock()
	if r := y.races[peer]; r != nil {
		return r, false
	}
	if y.races == nil {
		y.races = make(map[string]*Shared)
	}
	r = &Shared{Strategies: strategies, done: make(chan struct{})}
	y.races[peer] = r
	return r, true
}

// End ends the race r for a path to peer with err and wakes the connects
// waiting for it. err is nil when the race was not run to its end (its
// connect gave up), so that the others race for themselves.
func (y *Sync) End(peer string, r *Shared, err error) {
	y.mu.Lock()
	delete(y.races, peer)
	y.mu.Unlock()
	r.err = err
	close(r.done)
}
