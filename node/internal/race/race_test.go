package race

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/strategy"
)

// fakeStrategy has a name and a timeout; the race calls nothing else of a
// strategy (Deps.Attempt runs it).
type fakeStrategy struct {
	name    string
	timeout time.Duration
}

func (s fakeStrategy) Name() string { return s.name }
func (s fakeStrategy) Timeout() time.Duration {
	if s.timeout == 0 {
		return time.Minute
	}
	return s.timeout
}
func (fakeStrategy) Judge(address.Address, address.Address, strategy.PlanConfig) strategy.Judgement {
	return strategy.Judgement{}
}
func (fakeStrategy) Initiate(context.Context, strategy.Env, strategy.Call) (strategy.Raw, error) {
	panic("the race runs strategies through Deps.Attempt")
}
func (fakeStrategy) Request() signaling.Kind { return nil }
func (fakeStrategy) Respond(context.Context, strategy.Env, *signaling.Message) (strategy.Raw, error) {
	panic("not a responder")
}

// script is what a fake attempt does: after `after`, it secures a path
// (err nil) or fails with err; eta, when set, is reported at its start.
type script struct {
	after     time.Duration
	err       error
	eta       time.Duration
	commitErr error
	// marks are the moments it reports, in ms from its own start: an
	// early one is reported as it starts (a moment still to come, like a
	// meeting time), the others as they pass.
	marks []fakeMark
	// wait: after its marks, it waits its turn (Deps.Attempt's wait), as
	// the node does before the handshake.
	wait bool
}

type fakeMark struct {
	name  string
	at    time.Duration
	early bool
}

type fakePath struct {
	name      string
	commitErr error

	mu       sync.Mutex
	commits  []bool
	commited chan struct{}
}

func (p *fakePath) Commit(keep bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.commits = append(p.commits, keep)
	if keep {
		return p.commitErr
	}
	return nil
}

func (p *fakePath) decisions() []bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]bool(nil), p.commits...)
}

// fakeDeps runs scripted attempts inside a synctest bubble.
type fakeDeps struct {
	t0      time.Time
	scripts map[string]script
	rtt     time.Duration // the echo's answer after rtt; 0: the echo fails at once
	wg      sync.WaitGroup

	mu        sync.Mutex
	started   map[string]time.Duration // when each attempt started
	cancelled map[string]time.Duration // when an attempt saw its context end first
	waited    map[string]time.Duration // when an attempt's wait returned
	paths     map[string]*fakePath
	reports   []Attempt
}

func newDeps(scripts map[string]script) *fakeDeps {
	return &fakeDeps{t0: time.Now(), scripts: scripts, started: map[string]time.Duration{},
		cancelled: map[string]time.Duration{}, waited: map[string]time.Duration{}, paths: map[string]*fakePath{}}
}

func (d *fakeDeps) Attempt(ctx context.Context, st strategy.Strategy, _ address.Address, eta func(time.Time), mark func(string, time.Time), wait func(context.Context)) (Path, error) {
	name := st.Name()
	sc := d.scripts[name]
	start := time.Now()
	for _, m := range sc.marks {
		if m.early {
			mark(m.name, start.Add(m.at))
		}
	}
	for _, m := range sc.marks {
		if !m.early {
			time.Sleep(time.Until(start.Add(m.at))) // the bubble's clock
			mark(m.name, time.Now())
		}
	}
	if sc.wait {
		wait(ctx)
		d.mu.Lock()
		d.waited[name] = time.Since(d.t0)
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.started[name] = time.Since(d.t0)
	d.mu.Unlock()
	if sc.eta > 0 {
		eta(time.Now().Add(sc.eta))
	}
	t := time.NewTimer(time.Until(start.Add(sc.after)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		d.mu.Lock()
		d.cancelled[name] = time.Since(d.t0)
		d.mu.Unlock()
		return nil, ctx.Err()
	}
	if sc.err != nil {
		return nil, sc.err
	}
	p := &fakePath{name: name, commitErr: sc.commitErr}
	d.mu.Lock()
	d.paths[name] = p
	d.mu.Unlock()
	return p, nil
}

func (d *fakeDeps) Echo(ctx context.Context, _ address.Address) (time.Duration, error) {
	if d.rtt == 0 {
		return 0, errors.New("no echo")
	}
	select {
	case <-time.After(d.rtt):
		return d.rtt, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (d *fakeDeps) Report(_ string, a Attempt) {
	d.mu.Lock()
	d.reports = append(d.reports, a)
	d.mu.Unlock()
}

func (d *fakeDeps) Go(f func()) { d.wg.Go(f) }

func step(name string, chance strategy.Chance) strategy.Step {
	return strategy.Step{Strategy: fakeStrategy{name: name}, Chance: chance}
}

func fallback(name string, delay time.Duration) strategy.Step {
	return strategy.Step{Strategy: fakeStrategy{name: name}, Chance: strategy.Possible, Fallback: true, Delay: delay}
}

var peer = address.Address{NodeID: "peer"}

// race runs one race in a bubble and waits for every goroutine it left.
func race(t *testing.T, d *fakeDeps, steps []strategy.Step, timeout time.Duration) (Win, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	win, err := Run(ctx, d, peer, steps)
	d.wg.Wait()
	return win, err
}

func outcomes(as []Attempt) string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name+":"+a.Outcome)
	}
	return strings.Join(out, " ")
}

// TestTieWindow: a preferred strategy that finishes within TieWindow after
// a cheaper-ranked one wins, and the other's path is dropped; one that
// finishes later loses and is cancelled.
func TestTieWindow(t *testing.T) {
	for _, tc := range []struct {
		name         string
		directAfter  time.Duration
		wantWinner   string
		wantOutcomes string
	}{
		{"within the window", 100*time.Millisecond + TieWindow - time.Millisecond, "direct", "direct:ok reverse:cancelled"},
		{"past the window", 100*time.Millisecond + TieWindow + time.Millisecond, "reverse", "direct:cancelled reverse:ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newDeps(map[string]script{
					"direct":  {after: tc.directAfter},
					"reverse": {after: 100 * time.Millisecond},
				})
				win, err := race(t, d, []strategy.Step{step("direct", strategy.Possible), step("reverse", strategy.Possible)}, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if win.Strategy != tc.wantWinner {
					t.Fatalf("%s won, want %s", win.Strategy, tc.wantWinner)
				}
				if got := outcomes(win.Attempts); got != tc.wantOutcomes {
					t.Fatalf("outcomes %s, want %s", got, tc.wantOutcomes)
				}
				if got := win.Path.(*fakePath).decisions(); len(got) != 1 || !got[0] {
					t.Fatalf("the winner's commits: %v, want [true]", got)
				}
				loser := map[string]string{"direct": "reverse", "reverse": "direct"}[tc.wantWinner]
				if p := d.paths[loser]; p != nil {
					if got := p.decisions(); len(got) != 1 || got[0] {
						t.Fatalf("the loser's secured path got commits %v, want [false]", got)
					}
				} else if _, ok := d.cancelled[loser]; !ok {
					t.Fatalf("the loser %s was neither dropped nor cancelled", loser)
				}
			})
		})
	}
}

// TestLosersCancelled: once a path is committed, the attempts still
// running see their context end at once, and a path one of them secures
// anyway is dropped.
func TestLosersCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDeps(map[string]script{
			"direct":  {after: 50 * time.Millisecond},
			"reverse": {after: 10 * time.Second},
			"punch":   {after: 10 * time.Second},
		})
		win, err := race(t, d, []strategy.Step{step("direct", strategy.Possible), step("reverse", strategy.Possible), step("punch", strategy.Possible)}, time.Minute)
		if err != nil || win.Strategy != "direct" {
			t.Fatalf("won %q, %v", win.Strategy, err)
		}
		for _, name := range []string{"reverse", "punch"} {
			at, ok := d.cancelled[name]
			if !ok || at != 50*time.Millisecond {
				t.Errorf("%s cancelled at %v (seen: %v), want at the commit, 50ms", name, at, ok)
			}
		}
	})
}

// TestFallbackHeadStart: the relay waits its head start, stretched to
// FallbackRTTs signaling round trips once the echo answers, while a
// cheaper step runs; with a Likely step it waits for that step's ETA.
func TestFallbackHeadStart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cheaper   strategy.Step
		script    script
		rtt       time.Duration
		wantStart time.Duration
	}{
		{"echo stretches it", step("punch", strategy.Possible), script{after: time.Hour}, 100 * time.Millisecond,
			time.Duration(strategy.FallbackRTTs * float64(100*time.Millisecond))},
		{"no echo keeps the floor", step("punch", strategy.Possible), script{after: time.Hour}, 0, 50 * time.Millisecond},
		{"a likely step's ETA", step("direct", strategy.Likely), script{after: time.Hour, eta: 300 * time.Millisecond}, 0, 300 * time.Millisecond},
		{"a likely step without ETA", step("direct", strategy.Likely), script{after: time.Hour}, 0, LikelyHold},
		{"the cheaper step failed", step("punch", strategy.Possible), script{after: 20 * time.Millisecond, err: errors.New("no")}, 0, 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newDeps(map[string]script{tc.cheaper.Strategy.Name(): tc.script, "relay": {after: time.Millisecond}})
				d.rtt = tc.rtt
				win, err := race(t, d, []strategy.Step{tc.cheaper, fallback("relay", 50*time.Millisecond)}, time.Minute)
				if err != nil || win.Strategy != "relay" {
					t.Fatalf("won %q, %v", win.Strategy, err)
				}
				if got := d.started["relay"]; got != tc.wantStart {
					t.Fatalf("relay started at %v, want %v", got, tc.wantStart)
				}
			})
		})
	}
}

// TestCommitFailureFallsThrough: a winner whose commit cannot be sent
// counts as failed, and the next path to finish wins.
func TestCommitFailureFallsThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDeps(map[string]script{
			"direct":  {after: 10 * time.Millisecond, commitErr: errors.New("commit: broken pipe")},
			"reverse": {after: time.Second},
		})
		win, err := race(t, d, []strategy.Step{step("direct", strategy.Possible), step("reverse", strategy.Possible)}, time.Minute)
		if err != nil || win.Strategy != "reverse" {
			t.Fatalf("won %q, %v", win.Strategy, err)
		}
		if a := win.Attempts[0]; a.Outcome != OutcomeFailed || !strings.Contains(a.Reason, "broken pipe") {
			t.Fatalf("direct: %+v", a)
		}
	})
}

// TestAllFail: a race nothing wins says why for each step, the skipped
// and the timed-out ones included.
func TestAllFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDeps(map[string]script{
			"direct":  {after: 10 * time.Millisecond, err: errors.New("connection refused")},
			"reverse": {after: time.Hour},
		})
		slow := strategy.Step{Strategy: fakeStrategy{name: "reverse", timeout: time.Second}, Chance: strategy.Possible}
		skipped := strategy.Step{Strategy: fakeStrategy{name: "relay"}, Skip: "no TURN server"}
		_, err := race(t, d, []strategy.Step{step("direct", strategy.Possible), slow, skipped}, time.Minute)
		var re *Error
		if !errors.As(err, &re) {
			t.Fatalf("got %v, want *Error", err)
		}
		if got := outcomes(re.Attempts); got != "direct:failed reverse:failed relay:skipped" {
			t.Fatalf("outcomes %s", got)
		}
		for i, want := range []string{"connection refused", "timed out after 1s", "no TURN server"} {
			if !strings.Contains(re.Attempts[i].Reason, want) {
				t.Errorf("attempt %d: reason %q, want %q", i, re.Attempts[i].Reason, want)
			}
		}
		if re.Attempts[1].MS != 1000 {
			t.Errorf("the timed-out step ran %d ms, want 1000", re.Attempts[1].MS)
		}
	})
}

// TestConnectTimeoutSkipsUnstarted: a step still held back when the
// connect's time runs out is reported skipped, not failed.
func TestConnectTimeoutSkipsUnstarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDeps(map[string]script{"direct": {after: time.Hour}, "relay": {after: time.Millisecond}})
		_, err := race(t, d, []strategy.Step{step("direct", strategy.Likely), fallback("relay", 50*time.Millisecond)}, 500*time.Millisecond)
		var re *Error
		if !errors.As(err, &re) {
			t.Fatalf("got %v", err)
		}
		if got := outcomes(re.Attempts); got != "direct:failed relay:skipped" {
			t.Fatalf("outcomes %s", got)
		}
		if !strings.Contains(re.Attempts[0].Reason, "timed out with the connect") || !strings.Contains(re.Attempts[1].Reason, "timed out before it was tried") {
			t.Fatalf("reasons %q, %q", re.Attempts[0].Reason, re.Attempts[1].Reason)
		}
	})
}

// TestReports: every attempt is reported once as it starts and once as
// it ends.
func TestReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDeps(map[string]script{"direct": {after: 10 * time.Millisecond}, "reverse": {after: time.Second}})
		if _, err := race(t, d, []strategy.Step{step("direct", strategy.Possible), step("reverse", strategy.Possible)}, time.Minute); err != nil {
			t.Fatal(err)
		}
		got := outcomes(d.reports)
		if got != "direct:trying reverse:trying direct:ok reverse:cancelled" && got != "reverse:trying direct:trying direct:ok reverse:cancelled" {
			t.Fatalf("reports %s", got)
		}
	})
}

// TestSync: concurrent connects to one peer share the leader's race and
// its outcome; another peer gets its own.
func TestSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var y Sync
		r, lead := y.Join("p", []string{"direct"})
		if !lead {
			t.Fatal("the first connect does not lead")
		}
		r2, lead2 := y.Join("p", []string{"relay"})
		if lead2 || r2 != r {
			t.Fatal("a second connect to the peer started its own race")
		}
		if _, lead3 := y.Join("q", nil); !lead3 {
			t.Fatal("a connect to another peer waits for the first peer's race")
		}
		failed := errors.New("no path")
		woke := make(chan error)
		go func() {
			<-r2.Done()
			woke <- r2.Err()
		}()
		synctest.Wait()
		select {
		case <-woke:
			t.Fatal("a waiting connect woke before the race ended")
		default:
		}
		y.End("p", r, failed)
		if err := <-woke; err != failed {
			t.Fatalf("the waiting connect saw %v", err)
		}
		if _, lead := y.Join("p", nil); !lead {
			t.Fatal("after the race ended, a new connect does not lead")
		}
	})
}

// TestSteps: each attempt's timeline is in ms from the connect's start
// (not its own), in time order whatever order its moments were reported
// in, and the winner's ends with committed.
func TestSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDeps(map[string]script{
			"direct": {after: 30 * time.Millisecond, err: errors.New("refused"), marks: []fakeMark{{name: strategy.MarkTCPEstablished, at: 10 * time.Millisecond}}},
			"punch": {after: 60 * time.Millisecond, marks: []fakeMark{
				{name: strategy.MarkMeetingTime, at: 40 * time.Millisecond, early: true},
				{name: strategy.MarkSignalingSent},
				{name: strategy.MarkSignalingAnswered, at: 20 * time.Millisecond},
				{name: strategy.MarkFirstSYN, at: 40 * time.Millisecond},
				{name: strategy.MarkTCPEstablished, at: 45 * time.Millisecond},
				{name: strategy.MarkTLSDone, at: 60 * time.Millisecond},
			}},
		})
		// punch is a fallback held back until direct fails at 30 ms.
		win, err := race(t, d, []strategy.Step{step("direct", strategy.Likely), fallback("punch", time.Second)}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if win.Strategy != "punch" {
			t.Fatalf("%s won, want punch", win.Strategy)
		}
		if got, want := steps(win.Attempts[0]), "tcp_established@10"; got != want {
			t.Errorf("direct's steps %s, want %s", got, want)
		}
		want := "signaling_sent@30 signaling_answered@50 meeting_time@70 first_syn@70 tcp_established@75 tls_done@90 committed@90"
		if got := steps(win.Attempts[1]); got != want {
			t.Errorf("punch's steps %s, want %s", got, want)
		}
	})
}

func steps(a Attempt) string {
	var out []string
	for _, s := range a.Steps {
		out = append(out, fmt.Sprintf("%s@%d", s.Name, s.MS))
	}
	return strings.Join(out, " ")
}

// TestYield: a step whose transport is up waits to secure it while a
// preferred step whose transport is up too has not finished, at most
// TieWindow, and not at all for a preferred step still connecting.
func TestYield(t *testing.T) {
	up := func(at time.Duration) []fakeMark { return []fakeMark{{name: strategy.MarkTCPEstablished, at: at}} }
	for _, tc := range []struct {
		name   string
		direct script
		want   time.Duration // when reverse's wait returns
	}{
		{"until the preferred one ends", script{after: 40 * time.Millisecond, marks: up(10 * time.Millisecond)}, 40 * time.Millisecond},
		{"at most the tie window", script{after: time.Second, marks: up(10 * time.Millisecond)}, 20*time.Millisecond + TieWindow},
		{"not for one still connecting", script{after: time.Second}, 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newDeps(map[string]script{
					"direct":  tc.direct,
					"reverse": {after: 100 * time.Millisecond, marks: up(20 * time.Millisecond), wait: true},
				})
				if _, err := race(t, d, []strategy.Step{step("direct", strategy.Possible), step("reverse", strategy.Possible)}, time.Minute); err != nil {
					t.Fatal(err)
				}
				if got := d.waited["reverse"]; got != tc.want {
					t.Errorf("reverse waited until %v, want %v", got, tc.want)
				}
			})
		})
	}
}

// TestBehindLikely: the steps ranked after a Likely one start when it
// ends or TieWindow after the race's start, whichever comes first; one
// that wins in time leaves them unstarted.
func TestBehindLikely(t *testing.T) {
	for _, tc := range []struct {
		name        string
		direct      script
		wantStarted time.Duration // when reverse started; -1: never
		wantWinner  string
	}{
		{"a quick winner", script{after: 10 * time.Millisecond}, -1, "direct"},
		{"a quick failure", script{after: 10 * time.Millisecond, err: errors.New("refused")}, 10 * time.Millisecond, "reverse"},
		{"a slow one", script{after: time.Second, err: errors.New("timed out")}, TieWindow, "reverse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newDeps(map[string]script{"direct": tc.direct, "reverse": {after: 5 * time.Millisecond}})
				win, err := race(t, d, []strategy.Step{step("direct", strategy.Likely), step("reverse", strategy.Likely)}, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if win.Strategy != tc.wantWinner {
					t.Errorf("%s won, want %s", win.Strategy, tc.wantWinner)
				}
				got, ok := d.started["reverse"]
				switch {
				case tc.wantStarted < 0 && ok:
					t.Errorf("reverse started at %v, want never", got)
				case tc.wantStarted >= 0 && (!ok || got != tc.wantStarted):
					t.Errorf("reverse started at %v (%v), want %v", got, ok, tc.wantStarted)
				}
			})
		})
	}
}
