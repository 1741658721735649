package peerlink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/strategy"
)

// The timing of resumes and upgrades.
const (
	// ResumeDefer is how long the side that did not make a lost path
	// waits before it looks for a new one too: the side that made it
	// (and can reach the peer that way) goes first.
	ResumeDefer = 2 * time.Second
	// resumeBackoff and maxResumeBackoff space the resume attempts.
	resumeBackoff    = 500 * time.Millisecond
	maxResumeBackoff = 4 * time.Second
	// resumeTimeout bounds one resume attempt (a race and the attach).
	resumeTimeout = 15 * time.Second
	// AddressTimeout bounds asking the peer for its current address.
	AddressTimeout = 2 * time.Second
)

// upgradeAfter is when a link on a path costlier than another strategy
// could give tries that strategy again, counted from the path's start;
// after the last, every upgradeEvery.
var (
	upgradeAfter = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}
	upgradeEvery = 60 * time.Second
	// upgradePossibleTries is how many of the first upgrade attempts also
	// race the strategies the plan rates possible.
	upgradePossibleTries = 2
)

// resume looks for a new path after the current one died, until the link
// has one or fails. The side that made the lost path starts at once, the
// other after ResumeDefer; a side that never dialled the peer does not
// look at all.
func (l *Link) resume(lostDir Direction) {
	if !l.hasDialled() {
		// The peer only ever dialled us, and we never had its address but
		// from its own word: it resumes, or the link fails after its grace.
		// A stranger cannot make us dial out, or ask, on its behalf.
		l.reprobeWhileWaiting()
		return
	}
	if !l.begin(&l.recovering) {
		return
	}
	defer l.end(&l.recovering)
	ctx, cancel := l.lifeContext()
	defer cancel()
	if lostDir != Outbound && !sleep(ctx, ResumeDefer) {
		return
	}
	backoff := resumeBackoff
	for try := 0; l.link.State() == session.StateWaiting; try++ {
		if try > 0 {
			// The path may have died because our own address changed.
			l.t.cfg.Host.Reprobe()
		}
		err := l.findPath(ctx, nil, 0)
		if err == nil {
			return
		}
		l.t.log.Info("resume attempt failed", "peer", l.peer, "err", err)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, maxResumeBackoff)
	}
}

// reprobeWhileWaiting probes our NATs again, every maxResumeBackoff, for
// as long as the link waits for the peer to resume it: the path may have
// died because our own address changed, and the peer asks for our address
// to resume. The host spaces its probes however many links ask.
func (l *Link) reprobeWhileWaiting() {
	if !l.begin(&l.recovering) {
		return
	}
	defer l.end(&l.recovering)
	ctx, cancel := l.lifeContext()
	defer cancel()
	for l.link.State() == session.StateWaiting {
		l.t.cfg.Host.Reprobe()
		if !sleep(ctx, maxResumeBackoff) {
			return
		}
	}
}

// upgrade tries, at the upgradeAfter times and then every upgradeEvery,
// the strategies that would give a cheaper path than the current one, as
// long as we made the current path and such a strategy may work.
func (l *Link) upgrade() {
	if !l.begin(&l.upgrading) {
		return
	}
	defer l.end(&l.upgrading)
	ctx, cancel := l.lifeContext()
	defer cancel()
	start := time.Now()
	for i := 0; ; i++ {
		if !sleep(ctx, time.Until(start.Add(upgradeAt(i)))) {
			return
		}
		name, dir := l.Current()
		if name == "" {
			continue // waiting for a resume
		}
		if dir != Outbound {
			return // the side that made the path upgrades it
		}
		better := l.cheaperThan(name)
		if len(better) == 0 {
			return
		}
		// The first attempts also try what the plan rates possible (a
		// birthday punch between a hard NAT and an easy one): the race
		// gives the relay its head start over it, so without them such a
		// link would stay relayed. Later attempts try only the likely, so
		// a pair where it fails does not spend its budget every minute.
		least := strategy.Likely
		if i < upgradePossibleTries {
			least = strategy.Possible
		}
		if err := l.findPath(ctx, better, least); errors.Is(err, errNoLikelyStep) {
			continue // the addresses may change
		} else if err != nil {
			l.t.log.Info("upgrade attempt failed", "peer", l.peer, "from", name, "err", err)
		}
	}
}

// upgradeAt is when the i-th upgrade attempt is due, counted from the
// path's start, not from the end of the attempt before: a punch takes its
// window of seconds, which would push every later attempt back.
func upgradeAt(i int) time.Duration {
	if i < len(upgradeAfter) {
		return upgradeAfter[i]
	}
	return upgradeAfter[len(upgradeAfter)-1] + time.Duration(i-len(upgradeAfter)+1)*upgradeEvery
}

// begin sets *running, under l.mu, unless it is set already: one resume,
// or one upgrade loop, at a time. end clears it.
func (l *Link) begin(running *bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if *running {
		return false
	}
	*running = true
	return true
}

func (l *Link) end(running *bool) {
	l.mu.Lock()
	*running = false
	l.mu.Unlock()
}

// allowed is the strategies the link's connects allow, in their order.
func (l *Link) allowed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.strategies == nil {
		return l.t.cfg.Strategies
	}
	return l.strategies
}

// cheaperThan lists the strategies the link's connects allow that rank
// before name in the default order.
func (l *Link) cheaperThan(name string) []string {
	allowed := l.allowed()
	var out []string
	for _, s := range l.t.cfg.Strategies {
		if s == name {
			break
		}
		if slices.Contains(allowed, s) {
			out = append(out, s)
		}
	}
	return out
}

// errNoLikelyStep: an upgrade found no cheaper strategy the plan rates
// likely (or possible, when asked) to work.
var errNoLikelyStep = errors.New("no cheaper strategy is likely to work")

// findPath races the strategies (nil: those the link's connects allow)
// towards the peer's current address and gives the link the path that
// wins. An upgrade (least > 0) races only those the plan rates least or
// better; a resume (least 0) races every one the plan does not skip.
func (l *Link) findPath(ctx context.Context, strategies []string, least strategy.Chance) error {
	upgrade := least > 0
	why := "resume"
	if upgrade {
		why = "upgrade"
	}
	ctx, cancel := context.WithTimeout(ctx, resumeTimeout)
	defer cancel()
	addr, err := l.peerAddress(ctx)
	if err != nil {
		return err
	}
	if strategies == nil {
		strategies = l.allowed()
	}
	plan, err := l.t.cfg.Host.Plan(addr, strategies)
	if err != nil {
		return err
	}
	if upgrade {
		for i, st := range plan {
			if st.Skip == "" && st.Chance < least {
				plan[i].Skip = "not likely to work"
			}
		}
	}
	if !slices.ContainsFunc(plan, func(st strategy.Step) bool { return st.Skip == "" }) {
		if upgrade {
			return errNoLikelyStep
		}
		return fmt.Errorf("%s: no strategy can work (%s)", why, skips(plan))
	}
	p, name, err := l.t.cfg.Host.Race(ctx, addr, plan)
	if err != nil {
		return err
	}
	if err := l.Attach(ctx, p, name, Outbound); err != nil {
		return fmt.Errorf("%s on a %s path: %w", why, name, err)
	}
	return nil
}

func (l *Link) hasDialled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dialled
}

// skips words why each step of a plan is skipped.
func skips(plan []strategy.Step) string {
	var out []string
	for _, st := range plan {
		out = append(out, st.Strategy.Name()+" skipped: "+st.Skip)
	}
	return strings.Join(out, "; ")
}

// peerAddress asks the peer for its current address (it may have moved),
// falling back to the one last learnt.
func (l *Link) peerAddress(ctx context.Context) (address.Address, error) {
	l.mu.Lock()
	known := l.addr
	l.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, AddressTimeout)
	defer cancel()
	a, err := l.t.cfg.Host.AskAddress(actx, l.peer, known)
	if err == nil && a.NodeID == l.peer {
		l.mu.Lock()
		l.addr = a
		l.mu.Unlock()
		return a, nil
	}
	if known.NodeID == "" {
		return known, fmt.Errorf("the peer's address is unknown and it did not tell it: %v", err)
	}
	return known, nil
}

// lifeContext ends when the link fails or the table closes.
func (l *Link) lifeContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(l.t.ctx)
	go func() {
		select {
		case <-l.link.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
