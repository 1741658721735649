package peerlink

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/strategy"
)

// The peer-link tests run two tables, a and b, each the other's peer,
// inside a synctest bubble: a race is a net.Pipe whose far end the fake
// host attaches to the peer's link, as the peer's node does with a path
// it answered.

const grace = 30 * time.Second

type raceCall struct {
	at         time.Duration // since the test's start
	strategies []string
}

type fakeHost struct {
	id, peerID string
	t0         time.Time
	peer       *fakeHost
	table      *Table
	wg         *sync.WaitGroup

	mu       sync.Mutex
	canReach bool       // a race succeeds
	block    bool       // a race waits for its context instead
	races    []raceCall // every race, in order
	accepted chan *session.Stream
	changes  []session.EventKind
	pipes    []net.Conn                 // the ends of the last path a race made
	inFlight int                        // races not returned yet
	chances  map[string]strategy.Chance // a strategy's chance in the plan, if not Likely
}

func (h *fakeHost) Plan(_ address.Address, strategies []string) ([]strategy.Step, error) {
	var steps []strategy.Step
	for _, name := range strategies {
		s, _ := strategy.ByName(name)
		chance := strategy.Likely
		h.mu.Lock()
		if c, ok := h.chances[name]; ok {
			chance = c
		}
		h.mu.Unlock()
		steps = append(steps, strategy.Step{Strategy: s, Chance: chance})
	}
	return steps, nil
}

func (h *fakeHost) Race(ctx context.Context, _ address.Address, steps []strategy.Step) (net.Conn, string, error) {
	var names []string
	for _, st := range steps {
		if st.Skip == "" {
			names = append(names, st.Strategy.Name())
		}
	}
	h.mu.Lock()
	h.races = append(h.races, raceCall{time.Since(h.t0), names})
	reach, block := h.canReach, h.block
	h.inFlight++
	h.mu.Unlock()
	defer h.set(func(h *fakeHost) { h.inFlight-- })
	if block {
		<-ctx.Done()
		return nil, "", ctx.Err()
	}
	if !reach {
		return nil, "", errors.New("unreachable")
	}
	ours, theirs := net.Pipe()
	h.mu.Lock()
	h.pipes = []net.Conn{ours, theirs}
	h.mu.Unlock()
	peer, err := h.peer.table.Make(h.id)
	if err != nil {
		return nil, "", err
	}
	h.wg.Go(func() { peer.Attach(context.Background(), theirs, names[0], Inbound) })
	return ours, names[0], nil
}

func (h *fakeHost) AskAddress(_ context.Context, peer string, _ address.Address) (address.Address, error) {
	return address.Address{NodeID: peer}, nil
}

func (h *fakeHost) Reprobe() {}

// Accept lists the stream as a connection, as the node does.
func (h *fakeHost) Accept(l *Link, s *session.Stream) {
	l.Add(s, &fakeConn{grace: grace})
	h.accepted <- s
}

func (h *fakeHost) PathChanged(_ *Link, ev session.Event, _ Path) {
	h.mu.Lock()
	h.changes = append(h.changes, ev.Kind)
	h.mu.Unlock()
}

func (h *fakeHost) set(f func(h *fakeHost)) {
	h.mu.Lock()
	f(h)
	h.mu.Unlock()
}

func (h *fakeHost) raceList() []raceCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.races)
}

// pair makes the two tables, each configured by opts.
func pair(t *testing.T, wg *sync.WaitGroup, opts ...func(*Config)) (a, b *fakeHost) {
	t.Helper()
	t0 := time.Now()
	a = &fakeHost{id: "a", peerID: "b", t0: t0, wg: wg, canReach: true, accepted: make(chan *session.Stream, 16)}
	b = &fakeHost{id: "b", peerID: "a", t0: t0, wg: wg, canReach: true, accepted: make(chan *session.Stream, 16)}
	a.peer, b.peer = b, a
	for _, h := range []*fakeHost{a, b} {
		cfg := Config{ID: h.id, Host: h, Strategies: strategy.Names(), Grace: grace}
		for _, o := range opts {
			o(&cfg)
		}
		tab, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h.table = tab
	}
	return a, b
}

// connect makes a's link to b on a path of strategy name, as a connect
// does, and opens a stream that b accepts.
func connect(t *testing.T, a, b *fakeHost, name string) (*Link, *session.Stream, *session.Stream) {
	t.Helper()
	l, err := a.table.Make("b")
	if err != nil {
		t.Fatal(err)
	}
	steps, _ := a.Plan(address.Address{}, []string{name})
	p, got, err := a.Race(t.Context(), address.Address{NodeID: "b"}, steps)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Attach(t.Context(), p, got, Outbound); err != nil {
		t.Fatal(err)
	}
	s, err := l.Open(t.Context(), session.Header{}, grace)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	in := <-b.accepted
	return l, s, in
}

// closeAll closes both tables and waits for the paths they attached.
func closeAll(a, b *fakeHost, wg *sync.WaitGroup) {
	a.table.Close()
	b.table.Close()
	wg.Wait()
}

// cutPath closes the last path h's races made, as a dead TCP connection.
func cutPath(h *fakeHost) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.pipes {
		c.Close()
	}
}

func readAll(t *testing.T, s *session.Stream, n int) string {
	t.Helper()
	buf := make([]byte, n)
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatal(err)
	}
	return string(buf)
}

func (h *fakeHost) sawKind(k session.EventKind) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.changes, k)
}

// TestResumeByTheSideThatMadeThePath: when the path dies, the side that
// made it races for a new one at once, the other side waits, and the
// stream carries on over the new path.
func TestResumeByTheSideThatMadeThePath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg)
		defer closeAll(a, b, &wg)
		_, out, in := connect(t, a, b, strategy.Direct)
		if got := readAll(t, in, 1); got != "x" {
			t.Fatalf("read %q", got)
		}
		lost := time.Since(a.t0)
		cutPath(a)
		synctest.Wait()
		if _, err := out.Write([]byte("after")); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, in, 5); got != "after" {
			t.Fatalf("read %q after the resume", got)
		}
		races := a.raceList()
		if len(races) != 2 {
			t.Fatalf("a raced %d times, want 2 (the connect and one resume): %v", len(races), races)
		}
		if d := races[1].at - lost; d != 0 {
			t.Errorf("a resumed %v after the loss, want at once", d)
		}
		if n := len(b.raceList()); n != 0 {
			t.Errorf("b, which did not make the path, raced %d times", n)
		}
		// b may not have seen the old path die before a's new one arrived:
		// then the new path replaces a live one there (upgraded).
		if !a.sawKind(session.EventResumed) || !(b.sawKind(session.EventResumed) || b.sawKind(session.EventUpgraded)) {
			t.Errorf("path changes: a %v, b %v; want resumed on a, a new path on b", a.changes, b.changes)
		}
	})
}

// TestOtherSideResumesAfterDefer: when the side that made the path cannot
// reach the peer any more, the other side starts looking ResumeDefer after
// the loss, if it once dialled the peer itself, and its path carries the
// stream.
func TestOtherSideResumesAfterDefer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg)
		defer closeAll(a, b, &wg)
		_, out, in := connect(t, a, b, strategy.Direct)
		readAll(t, in, 1)
		b.table.Get("a").Learn(address.Address{NodeID: "a"}, nil) // a connect of b's named a's address
		a.set(func(h *fakeHost) { h.canReach = false })
		lost := time.Since(a.t0)
		cutPath(a)
		if _, err := out.Write([]byte("later")); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, in, 5); got != "later" {
			t.Fatalf("read %q", got)
		}
		races := b.raceList()
		if len(races) != 1 || races[0].at-lost != ResumeDefer {
			t.Fatalf("b raced %v after a loss at %v, want once at +%v", races, lost, ResumeDefer)
		}
	})
}

// TestStrangerLinkNotResumed: a link the peer only ever dialled in (a
// stranger's, say) is not resumed by us: no race and no address request
// on its word; the peer resumes it or it fails after its grace.
func TestStrangerLinkNotResumed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg)
		defer closeAll(a, b, &wg)
		connect(t, a, b, strategy.Direct)
		a.set(func(h *fakeHost) { h.canReach = false })
		cutPath(a)
		time.Sleep(grace + time.Second)
		if races := b.raceList(); len(races) != 0 {
			t.Fatalf("b raced %v for a link only a ever dialled", races)
		}
		if b.table.Get("a") != nil {
			t.Fatal("b still has the link after its grace")
		}
	})
}

// TestLinkCap: past MaxLinks, a new link replaces the one idle the
// longest, and is refused while every link carries a connection.
func TestLinkCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg, func(c *Config) { c.MaxLinks = 3 })
		defer closeAll(a, b, &wg)
		busy := map[string]*fakeConn{}
		for _, p := range []string{"p1", "p2", "p3"} {
			l, err := a.table.Make(p)
			if err != nil {
				t.Fatal(err)
			}
			busy[p] = &fakeConn{grace: grace}
			l.Add(nil, busy[p]) // a connection on it; no stream needed here
			time.Sleep(time.Second)
		}
		if _, err := a.table.Make("p4"); !errors.Is(err, ErrTooManyLinks) {
			t.Fatalf("a fourth link with three busy: %v, want ErrTooManyLinks", err)
		}
		a.table.Get("p2").Remove(nil)
		time.Sleep(time.Second)
		a.table.Get("p1").Remove(nil)
		if _, err := a.table.Make("p4"); err != nil {
			t.Fatalf("a fourth link with two idle: %v", err)
		}
		if a.table.Get("p2") != nil || a.table.Get("p1") == nil {
			t.Fatal("the link idle the longest (p2) was not the one replaced")
		}
	})
}

// TestIdleLinkCloses: a link that carries a connection stays; once it
// carries none for IdleAfter, it closes, on both sides.
func TestIdleLinkCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg, func(c *Config) { c.IdleAfter = time.Minute })
		defer closeAll(a, b, &wg)
		l, out, in := connect(t, a, b, strategy.Direct)
		l.Add(out, &fakeConn{grace: grace})
		time.Sleep(3 * time.Minute)
		if a.table.Get("b") == nil {
			t.Fatal("a link with a connection was closed as idle")
		}
		l.Remove(out)
		b.table.Get("a").Remove(in)
		time.Sleep(time.Minute - time.Second)
		if a.table.Get("b") == nil {
			t.Fatal("the idle link closed early")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if a.table.Get("b") != nil || b.table.Get("a") != nil {
			t.Fatal("the idle link is still open after IdleAfter")
		}
	})
}

// TestUpgradeSchedule: the side that made a costly path tries the
// cheaper strategies 1 s, 5 s and 30 s after the path started, then every
// 60 s, however long each attempt takes.
func TestUpgradeAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg)
		defer closeAll(a, b, &wg)
		connect(t, a, b, strategy.Relay)
		start := time.Since(a.t0)
		a.set(func(h *fakeHost) { h.canReach = false })
		time.Sleep(91 * time.Second)
		races := a.raceList()[1:]
		var at []time.Duration
		for _, r := range races {
			at = append(at, r.at-start)
			if !slices.Equal(r.strategies, []string{strategy.Direct, strategy.Reverse, strategy.Punch}) {
				t.Errorf("an upgrade raced %v, want the cheaper strategies", r.strategies)
			}
		}
		want := []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 90 * time.Second}
		if !slices.Equal(at, want) {
			t.Fatalf("upgrades at %v, want %v", at, want)
		}
		if n := len(b.raceList()); n != 0 {
			t.Errorf("b, which did not make the path, raced %d times", n)
		}
	})
}

// TestUpgradeTriesPossibleFirst: the first two upgrade attempts also race
// a strategy the plan rates possible (a birthday punch), which the race
// would otherwise leave to the relay; later ones do not.
func TestUpgradeTriesPossibleFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg)
		defer closeAll(a, b, &wg)
		connect(t, a, b, strategy.Relay)
		start := time.Since(a.t0)
		a.set(func(h *fakeHost) {
			h.canReach = false
			h.chances = map[string]strategy.Chance{strategy.Punch: strategy.Possible}
		})
		time.Sleep(91 * time.Second)
		var got [][]string
		for _, r := range a.raceList()[1:] {
			t.Logf("upgrade at %v: %v", r.at-start, r.strategies)
			got = append(got, r.strategies)
		}
		all := []string{strategy.Direct, strategy.Reverse, strategy.Punch}
		likely := []string{strategy.Direct, strategy.Reverse}
		want := [][]string{all, all, likely, likely}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("upgrades raced %v, want %v", got, want)
		}
	})
}

// TestUpgradeMoves: an upgrade that wins moves the link to the cheaper
// path and stops trying.
func TestUpgradeMoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg)
		defer closeAll(a, b, &wg)
		l, out, in := connect(t, a, b, strategy.Relay)
		readAll(t, in, 1)
		time.Sleep(2 * time.Second)
		if name, _ := l.Current(); name != strategy.Direct {
			t.Fatalf("the link is on %q after the first upgrade, want direct", name)
		}
		out.Write([]byte("moved"))
		if got := readAll(t, in, 5); got != "moved" {
			t.Fatalf("read %q", got)
		}
		time.Sleep(time.Minute)
		if n := len(a.raceList()); n != 2 {
			t.Fatalf("a raced %d times, want 2: it went on upgrading a direct path", n)
		}
	})
}

type fakeConn struct {
	grace time.Duration

	mu      sync.Mutex
	aborted time.Duration // when, since t0; 0 if not
	t0      time.Time
}

func (c *fakeConn) Grace() time.Duration { return c.grace }
func (c *fakeConn) Abort(string) error {
	c.mu.Lock()
	c.aborted = time.Since(c.t0)
	c.mu.Unlock()
	return nil
}
func (c *fakeConn) abortedAt() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aborted
}
func (c *fakeConn) PathChanged()   {}
func (c *fakeConn) StreamChanged() {}

// TestConnectionGrace: a connection whose grace is shorter than the
// link's is aborted when its grace has passed without a new path; one
// with the link's grace is not.
func TestConnectionGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg)
		defer closeAll(a, b, &wg)
		l, out, in := connect(t, a, b, strategy.Direct)
		readAll(t, in, 1)
		short := &fakeConn{grace: 3 * time.Second, t0: time.Now()}
		long := &fakeConn{grace: grace, t0: time.Now()}
		l.Add(out, short)
		l.Add(in, long) // any stream will do: only its owner is looked at
		a.set(func(h *fakeHost) { h.canReach = false })
		b.set(func(h *fakeHost) { h.canReach = false })
		cutPath(a)
		time.Sleep(10 * time.Second)
		if at := short.abortedAt(); at != 3*time.Second {
			t.Errorf("the 3 s connection was aborted at %v, want 3s", at)
		}
		if at := long.abortedAt(); at != 0 {
			t.Errorf("the connection with the link's grace was aborted at %v", at)
		}
	})
}

// TestCloseStopsResume: Close ends a resume in flight and waits for it;
// no race starts after Close returns (the node's goroutines may then be
// waited for).
func TestCloseStopsResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg)
		_, _, in := connect(t, a, b, strategy.Direct)
		readAll(t, in, 1)
		a.set(func(h *fakeHost) { h.block = true })
		b.set(func(h *fakeHost) { h.block = true })
		cutPath(a)
		synctest.Wait() // a's resume is racing
		if n := len(a.raceList()); n != 2 {
			t.Fatalf("a raced %d times, want its resume running", n)
		}
		a.table.Close()
		a.mu.Lock()
		running := a.inFlight
		a.mu.Unlock()
		if running != 0 {
			t.Fatalf("Close returned with %d races of its links running", running)
		}
		n := len(a.raceList())
		time.Sleep(time.Minute)
		if m := len(a.raceList()); m != n {
			t.Fatalf("a raced %d times after Close", m-n)
		}
		if _, err := a.table.Make("b"); !errors.Is(err, ErrClosing) {
			t.Fatalf("Make after Close: %v, want ErrClosing", err)
		}
		b.table.Close()
		wg.Wait()
	})
}

// TestPathEventWhileTableLocked: a link's path event, which the session
// layer delivers under its own lock, never waits for the table's lock,
// which is held around calls into session links. The two orders once
// deadlocked a node of the network lab (its signaling and listener
// stopped answering).
func TestPathEventWhileTableLocked(t *testing.T) {
	var wg sync.WaitGroup
	a, b := pair(t, &wg)
	l, _, _ := connect(t, a, b, strategy.Direct)
	a.set(func(h *fakeHost) { h.canReach = false })
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.table.mu.Lock()
		defer a.table.mu.Unlock()
		cutPath(a)
		// The loss reaches the link's event hook under the session's lock;
		// the state reads under that lock too.
		for l.link.State() != session.StateWaiting {
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case <-done:
		closeAll(a, b, &wg)
	case <-time.After(10 * time.Second):
		// Nothing can close the tables now: their goroutines stay blocked.
		t.Fatal("the path event waited for the table's lock while holding the session's: deadlock")
	}
}

// TestDrop: Drop closes the current path only when keep refuses it, and
// the link resumes at once, as after any loss; InUse tells a link with a
// connection from a stranger's idle one.
func TestDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		a, b := pair(t, &wg)
		defer closeAll(a, b, &wg)
		l, out, in := connect(t, a, b, strategy.Direct)
		readAll(t, in, 1)
		if !l.InUse() {
			t.Error("a link with a connection we dialled: not in use")
		}
		var seen Path
		if l.Drop(func(p Path) bool { seen = p; return true }) {
			t.Error("Drop closed a path keep kept")
		}
		if seen.Strategy != strategy.Direct {
			t.Errorf("keep saw %+v, want the direct path", seen)
		}
		if !l.Drop(func(Path) bool { return false }) {
			t.Fatal("Drop closed nothing")
		}
		synctest.Wait()
		if _, err := out.Write([]byte("after")); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, in, 5); got != "after" {
			t.Fatalf("read %q after the drop", got)
		}
		if n := len(a.raceList()); n != 2 || !a.sawKind(session.EventResumed) {
			t.Errorf("a raced %d times, saw %v: want one resume after the drop", n, a.changes)
		}
		if bl := b.table.Get("a"); bl == nil || !bl.InUse() {
			t.Error("b's link carries the stream a opened: want in use")
		}
	})
}
