// Package race is the stage of reachd's connection pipeline that turns a
// plan (strategy.Plan) into one secured path: every step that can work
// starts at its release time, the first path secured wins (ties go to the
// preferred strategy), the winner is committed and the rest cancelled and
// dropped. Sync lets concurrent connects to one peer share one race.
//
// The race does not make paths itself: its Deps run a strategy's
// initiator and the path handshake (node/internal/handshake), measure the
// signaling round trip and own the race's goroutines. ARCHITECTURE.md
// ("The race") walks through the timing.
package race

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node/internal/handshake"
	"github.com/reachd/reachd/strategy"
)

// The race's timing.
const (
	// TieWindow is how long a path that finished waits for a strategy
	// ranked before it that is still running, so the preference order
	// holds among paths that finish at nearly the same time.
	TieWindow = 25 * time.Millisecond
	// LikelyHold is how long a Likely strategy that has not said when it
	// expects to finish holds a fallback back.
	LikelyHold = time.Second
	// MaxHold bounds any hold of a fallback.
	MaxHold = 10 * time.Second
)

// Path is a secured path an attempt made.
type Path interface {
	// Commit tells the peer whether we keep the path; a dropped path is
	// closed.
	Commit(keep bool) error
}

// Deps is what a race needs from its owner.
type Deps interface {
	// Attempt runs st's initiator towards peer and secures the path it
	// makes, within ctx; eta is told when the strategy expects to finish,
	// once it knows, and mark of each moment of its timeline
	// (strategy.Call.Mark). It calls wait between the two, once the
	// transport is up: wait holds the handshake while a preferred step
	// whose transport is up too finishes its own (see yield).
	Attempt(ctx context.Context, st strategy.Strategy, peer address.Address, eta func(time.Time), mark func(name string, at time.Time), wait func(context.Context)) (Path, error)
	// Echo measures the signaling round trip to peer, which sizes a
	// fallback's head start.
	Echo(ctx context.Context, peer address.Address) (time.Duration, error)
	// Report is told of each attempt as it starts (OutcomeTrying) and as
	// it ends.
	Report(peer string, a Attempt)
	// Go runs f on a goroutine its owner waits for before it closes.
	Go(f func())
}

// Win is the path a race committed.
type Win struct {
	Path     Path
	Strategy string
	Attempts []Attempt
}

// racer runs one race.
type racer struct {
	deps   Deps
	peer   address.Address
	steps  []strategy.Step
	start  time.Time
	ctx    context.Context // the strategies' context: ends at commit or with the connect's
	cancel context.CancelFunc

	results chan result
	etas    chan stepETA
	rtts    chan time.Duration

	attempts []Attempt
	released []bool
	finished []bool
	gates    []chan struct{}
	eta      []time.Time
	rtt      time.Duration // the signaling round trip, once measured
	echoing  bool

	mu        sync.Mutex
	timeline  [][]Step      // each attempt's timeline so far; under mu
	connected []bool        // the attempt's transport is up (MarkTCPEstablished); under mu
	ended     []bool        // the attempt returned; under mu
	secured   []bool        // it returned a path; under mu
	changed   chan struct{} // closed and replaced when connected or ended change; under mu
}

type result struct {
	i        int
	ran      bool // false: it ended before its release
	path     Path
	err      error
	started  time.Duration
	finished time.Duration
}

type stepETA struct {
	i  int
	at time.Time
}

// Run races steps towards peer and returns the winning path, committed,
// or an *Error with every attempt. Every goroutine it starts runs on
// deps.Go; those that outlive it (the losers' cancellation) end soon
// after ctx does.
func Run(ctx context.Context, deps Deps, peer address.Address, steps []strategy.Step) (Win, error) {
	rctx, cancel := context.WithCancel(ctx)
	r := &racer{
		deps: deps, peer: peer, steps: steps, start: time.Now(), ctx: rctx, cancel: cancel,
		results:  make(chan result, len(steps)),
		etas:     make(chan stepETA, len(steps)),
		rtts:     make(chan time.Duration, 1),
		attempts: make([]Attempt, len(steps)),
		released: make([]bool, len(steps)),
		finished: make([]bool, len(steps)),
		gates:    make([]chan struct{}, len(steps)),
		eta:      make([]time.Time, len(steps)),
		timeline: make([][]Step, len(steps)),

		connected: make([]bool, len(steps)),
		ended:     make([]bool, len(steps)),
		secured:   make([]bool, len(steps)),
		changed:   make(chan struct{}),
	}
	pending := 0
	for i, st := range steps {
		r.attempts[i] = Attempt{Name: st.Strategy.Name(), Chance: chanceName(st)}
		if st.Skip != "" {
			r.end(i, OutcomeSkipped, st.Skip, strategy.ClassUnavailable)
			continue
		}
		pending++
		r.gates[i] = make(chan struct{})
		deps.Go(func() { r.run(i) })
		if st.Fallback && st.Delay > 0 && !r.echoing {
			r.echoing = true
			deps.Go(r.measureRTT)
		}
	}

	var best *result
	var tie <-chan time.Time
	for pending > 0 {
		var wake <-chan time.Time
		if best == nil { // a path is secured: nothing more needs to start
			wake = r.releaseDue()
		}
		select {
		case res := <-r.results:
			pending--
			r.finished[res.i] = true
			if res.err != nil {
				r.failed(res)
				break
			}
			if best != nil && best.i < res.i {
				r.drop(res, r.steps[best.i].Strategy.Name()+" finished first and is preferred")
				break
			}
			if best != nil {
				r.drop(*best, r.steps[res.i].Strategy.Name()+" finished at nearly the same time and is preferred")
			}
			best = &res
			tie = time.After(TieWindow)
		case e := <-r.etas:
			r.eta[e.i] = e.at
		case rtt := <-r.rtts:
			r.rtt, r.echoing = rtt, false
		case <-wake:
		case <-tie:
			tie = nil
		}
		if best != nil && (tie == nil || !r.runningBefore(best.i)) {
			win, err := r.commit(*best, pending)
			if err == nil {
				return win, nil
			}
			best.err = err
			r.failed(*best)
			best, tie = nil, nil
		}
	}
	cancel()
	return Win{}, &Error{Peer: peer.NodeID, Attempts: r.attempts}
}

// run is one step: it waits for its release, then makes and secures a
// path.
func (r *racer) run(i int) {
	st := r.steps[i]
	res := result{i: i}
	defer func() { r.setEnded(i, res.err == nil) }()
	select {
	case <-r.gates[i]:
	case <-r.ctx.Done():
		res.err = r.ctx.Err()
		r.results <- res
		return
	}
	if !r.behindLikely(i) {
		res.err = r.ctx.Err()
		r.results <- res
		return
	}
	res.ran, res.started = true, time.Since(r.start)
	r.deps.Report(r.peer.NodeID, Attempt{Name: st.Strategy.Name(), Outcome: OutcomeTrying, Chance: chanceName(st), StartedMS: res.started.Milliseconds()})
	sctx, cancel := context.WithTimeout(r.ctx, st.Strategy.Timeout())
	defer cancel()
	path, err := r.deps.Attempt(sctx, st.Strategy, r.peer, func(at time.Time) {
		select {
		case r.etas <- stepETA{i, at}:
		default:
		}
	}, func(name string, at time.Time) { r.mark(i, name, at) }, func(ctx context.Context) { r.yield(ctx, i) })
	switch {
	case err == nil || sctx.Err() == nil:
	case r.ctx.Err() == nil:
		err = fmt.Errorf("timed out after %v: %w", st.Strategy.Timeout(), err)
	case errors.Is(r.ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("timed out with the connect: %w", err)
	}
	res.path, res.err, res.finished = path, err, time.Since(r.start)
	r.results <- res
}

// measureRTT measures the signaling round trip to the peer.
func (r *racer) measureRTT() {
	rtt, err := r.deps.Echo(r.ctx, r.peer)
	if err != nil {
		rtt = 0 // no figure: the head start stays as planned
	}
	r.rtts <- rtt
}

// releaseDue opens the gates of the steps whose time has come and returns
// a channel that fires at the next release, or nil.
func (r *racer) releaseDue() <-chan time.Time {
	now := time.Now()
	var next time.Time
	for i := range r.steps {
		if r.released[i] || r.finished[i] || r.gates[i] == nil {
			continue
		}
		at := r.releaseAt(i)
		if !at.After(now) {
			r.released[i] = true
			r.attempts[i].StartedMS = now.Sub(r.start).Milliseconds()
			close(r.gates[i])
			continue
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if next.IsZero() {
		return nil
	}
	return time.After(next.Sub(now))
}

// releaseAt is when step i may start. A fallback starts after its head
// start (stretched to FallbackRTTs signaling round trips once measured)
// and while Likely cheaper steps run, not before they expect to be done;
// as soon as every cheaper step has ended, it starts.
func (r *racer) releaseAt(i int) time.Time {
	st := r.steps[i]
	at := r.start.Add(st.Delay)
	if !st.Fallback {
		return at
	}
	cheaperRunning := false
	hold := at
	for j, o := range r.steps {
		if o.Fallback || o.Skip != "" || r.finished[j] {
			continue
		}
		cheaperRunning = true
		if o.Chance == strategy.Likely {
			h := r.eta[j]
			if h.IsZero() {
				h = r.start.Add(LikelyHold)
			}
			hold = later(hold, h)
		}
	}
	if !cheaperRunning {
		return r.start
	}
	if st.Delay > 0 {
		if r.echoing {
			hold = later(hold, r.start.Add(LikelyHold)) // until the echo answers
		} else if r.rtt > 0 {
			hold = later(hold, r.start.Add(time.Duration(strategy.FallbackRTTs*float64(r.rtt))))
		}
	}
	return earlier(hold, r.start.Add(MaxHold))
}

// runningBefore reports whether a step ranked before i may still finish.
func (r *racer) runningBefore(i int) bool {
	for j := range i {
		if r.steps[j].Skip == "" && !r.finished[j] && (r.released[j] || !r.steps[j].Fallback) {
			return true
		}
	}
	return false
}

// commit keeps the winning path: the peer is told, the other steps are
// cancelled and any path they still make is dropped.
func (r *racer) commit(win result, pending int) (Win, error) {
	if err := win.path.Commit(true); err != nil {
		return Win{}, err
	}
	r.mark(win.i, strategy.MarkCommitted, time.Now())
	r.attempts[win.i].StartedMS, r.attempts[win.i].FinishedMS = win.started.Milliseconds(), win.finished.Milliseconds()
	r.end(win.i, OutcomeOK, "", "")
	name := r.steps[win.i].Strategy.Name()
	for i := range r.steps {
		if r.finished[i] || r.steps[i].Skip != "" {
			continue
		}
		if r.released[i] {
			r.end(i, OutcomeCancelled, name+" won", strategy.ClassCancelled)
		} else {
			r.end(i, OutcomeSkipped, name+" won before it started", "")
		}
	}
	// Stop the losers and drop whatever they still secure.
	r.deps.Go(func() {
		r.cancel()
		for ; pending > 0; pending-- {
			if res := <-r.results; res.err == nil {
				res.path.Commit(false)
			}
		}
	})
	return Win{Path: win.path, Strategy: name, Attempts: r.attempts}, nil
}

// SkippedTimeout is the reason of a step the connect's timeout ended
// before it started.
const SkippedTimeout = "connect timed out before it was tried"

// failed records a step that made no path: skipped when the connect ended
// before it started, else failed.
func (r *racer) failed(res result) {
	switch {
	case !res.ran && errors.Is(res.err, context.DeadlineExceeded):
		r.end(res.i, OutcomeSkipped, SkippedTimeout, "")
	case !res.ran:
		r.end(res.i, OutcomeSkipped, "the connect ended before it was tried", "")
	default:
		a := &r.attempts[res.i]
		a.StartedMS, a.FinishedMS = res.started.Milliseconds(), res.finished.Milliseconds()
		r.end(res.i, OutcomeFailed, res.err.Error(), classOf(res.err))
	}
}

// drop closes a secured path that lost, telling the peer.
func (r *racer) drop(res result, reason string) {
	res.path.Commit(false)
	a := &r.attempts[res.i]
	a.StartedMS, a.FinishedMS = res.started.Milliseconds(), res.finished.Milliseconds()
	r.end(res.i, OutcomeCancelled, reason, strategy.ClassCancelled)
}

// end records a step's outcome and reports it.
func (r *racer) end(i int, outcome, reason, class string) {
	a := &r.attempts[i]
	a.Outcome, a.Reason, a.Class = outcome, reason, class
	switch {
	case outcome == OutcomeSkipped:
		a.StartedMS, a.FinishedMS = 0, 0
	case a.FinishedMS == 0: // StartedMS is its release time (releaseDue)
		a.FinishedMS = time.Since(r.start).Milliseconds()
	}
	a.MS = a.FinishedMS - a.StartedMS
	r.mu.Lock()
	a.Steps = slices.Clone(r.timeline[i])
	r.mu.Unlock()
	slices.SortStableFunc(a.Steps, func(x, y Step) int { return cmp.Compare(x.MS, y.MS) })
	r.finished[i] = true
	r.deps.Report(r.peer.NodeID, *a)
}

// mark records the moment name of step i's attempt, at.
func (r *racer) mark(i int, name string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timeline[i] = append(r.timeline[i], Step{Name: name, MS: max(at.Sub(r.start).Milliseconds(), 0)})
	if name == strategy.MarkTCPEstablished && !r.connected[i] {
		r.connected[i] = true
		r.changedLocked()
	}
}

// setEnded records that step i's attempt returned, with a path or not.
func (r *racer) setEnded(i int, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended[i], r.secured[i] = true, ok
	r.changedLocked()
}

func (r *racer) changedLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// behindLikely holds step i, once released, while a Likely step ranked
// before it (not a fallback) has not returned, or returned a path (which
// the race is committing), until TieWindow after the race's start: a path that finished within that time would lose to the
// preferred one anyway (the tie window), so the preferred step has the
// first moments, and the CPU, to itself. A preferred path that is quick
// (a LAN, loopback) wins before the others start; on longer paths they
// start TieWindow late. False when the race ended meanwhile.
func (r *racer) behindLikely(i int) bool {
	t := time.NewTimer(time.Until(r.start.Add(TieWindow)))
	defer t.Stop()
	for {
		r.mu.Lock()
		busy := false
		for j := range i {
			st := r.steps[j]
			busy = busy || st.Skip == "" && !st.Fallback && st.Chance == strategy.Likely && (!r.ended[j] || r.secured[j])
		}
		ch := r.changed
		r.mu.Unlock()
		if !busy {
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return true
		case <-r.ctx.Done():
			return false
		}
	}
}

// yield holds step i's handshake while a step ranked before it has its
// transport up and has not returned, for at most TieWindow: a path that
// finished first would wait that long for the preferred one anyway (the
// tie window), and meanwhile the preferred handshake has the CPU to
// itself. Nothing changes for which path wins.
func (r *racer) yield(ctx context.Context, i int) {
	t := time.NewTimer(TieWindow)
	defer t.Stop()
	for {
		r.mu.Lock()
		busy := false
		for j := range i {
			busy = busy || r.connected[j] && !r.ended[j]
		}
		ch := r.changed
		r.mu.Unlock()
		if !busy {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// classOf sorts a failure, a peer presenting the wrong key or refusing
// our preamble included.
func classOf(err error) string {
	var refused *handshake.RefusedError
	switch {
	case errors.Is(err, handshake.ErrWrongPeer):
		return strategy.ClassWrongPeer
	case errors.As(err, &refused):
		return strategy.ClassPeerRefused
	}
	return strategy.Class(err)
}

func chanceName(st strategy.Step) string {
	if st.Skip != "" {
		return ""
	}
	return st.Chance.String()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
