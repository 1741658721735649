package session_test

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/session/sessiontest"
)

// transfer sends n bytes each way at once over one stream and checks both
// arrive intact; during it, change is called at each of the marks (bytes
// received by a), from a goroutine.
func transfer(t *testing.T, a, b *session.Link, n int64, marks []int64, change func(i int)) {
	t.Helper()
	ctx := ctxT(t)
	sa, err := a.Open(ctx, session.Header{Service: "bulk"})
	if err != nil {
		t.Fatal(err)
	}
	sa.Write(nil)
	sb, err := b.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var sumAB, sumBA, gotAB, gotBA [32]byte
	var nAB, nBA int64
	var errs [4]error
	next := atomic.Int64{}
	changes := make(chan int, len(marks))
	progress := func(got int64) {
		i := next.Load()
		if int(i) < len(marks) && got >= marks[i] {
			next.Add(1)
			changes <- int(i)
		}
	}
	wg.Go(func() { sumAB, errs[0] = sendAll(sa, 1, n, 32<<10) })
	wg.Go(func() { sumBA, errs[1] = sendAll(sb, 2, n, 20000) })
	wg.Go(func() { gotAB, nAB, errs[2] = recvAll(sb, nil) })
	wg.Go(func() { gotBA, nBA, errs[3] = recvAll(sa, progress) })
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	for loop := true; loop; {
		select {
		case i := <-changes:
			change(i)
		case <-done:
			loop = false
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("transfer part %d: %v", i, err)
		}
	}
	if nAB != n || gotAB != sumAB {
		t.Errorf("a to b: %d bytes (want %d), sha256 match %v", nAB, n, gotAB == sumAB)
	}
	if nBA != n || gotBA != sumBA {
		t.Errorf("b to a: %d bytes (want %d), sha256 match %v", nBA, n, gotBA == sumBA)
	}
}

func transferSize(t *testing.T) int64 {
	if testing.Short() {
		return 8 << 20
	}
	return 64 << 20
}

// TestResumeAfterKills kills the path several times while 64 MiB flow each
// way, attaching a new one after each kill: everything arrives once.
func TestResumeAfterKills(t *testing.T) {
	for _, tc := range []struct {
		name string
		mk   sessiontest.PathMaker
	}{
		{"pipe", sessiontest.Pipe},
		{"tcp", sessiontest.TCP},
		{"tls", sessiontest.TLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			var mu sync.Mutex
			var kinds []session.EventKind
			a, err := session.New(session.Config{OnEvent: func(ev session.Event) {
				mu.Lock()
				kinds = append(kinds, ev.Kind)
				mu.Unlock()
			}}, true)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := session.New(session.Config{}, false)
			t.Cleanup(func() { a.Close(); b.Close() })
			pa, _ := sessiontest.Connect(t, a, b, tc.mk)
			n := transferSize(t)
			marks := []int64{n / 10, n / 4, n / 2, n * 3 / 4, n * 9 / 10}
			transfer(t, a, b, n, marks, func(i int) {
				pa.Close()
				// The new path comes after a moment without one.
				time.Sleep(time.Duration(i) * 10 * time.Millisecond)
				pa, _ = sessiontest.Connect(t, a, b, tc.mk)
			})
			mu.Lock()
			defer mu.Unlock()
			lost, resumed, upgraded := 0, 0, 0
			for _, k := range kinds {
				switch k {
				case session.EventLost:
					lost++
				case session.EventResumed:
					resumed++
				case session.EventUpgraded:
					upgraded++
				}
			}
			// Each kill is lost and resumed on the killing side.
			// (A kill noticed only once the next attach began shows as
			// an upgrade.)
			if resumed+upgraded != len(marks) || lost != resumed || kinds[0] != session.EventAttached {
				t.Errorf("events %v: %d lost, %d resumed, %d upgraded; want attached, then %d resumed or upgraded", kinds, lost, resumed, upgraded, len(marks))
			}
			if st := a.Stats(); st.Paths != len(marks)+1 {
				t.Errorf("paths %d, want %d", st.Paths, len(marks)+1)
			}
		})
	}
}

// TestUpgradeUnderLoad attaches a new path while the old one is live and
// busy: the link moves, the old path is closed, nothing is lost.
func TestUpgradeUnderLoad(t *testing.T) {
	checkGoroutines(t)
	var upgrades atomic.Int32
	cfg := session.Config{OnEvent: func(ev session.Event) {
		t.Logf("%p event %s %s", ev.Path, ev.Kind, ev.Reason)
		if ev.Kind == session.EventUpgraded {
			upgrades.Add(1)
		}
		if ev.Kind == session.EventLost {
			t.Errorf("path lost during an upgrade: %s", ev.Reason)
		}
	}}
	a, b := sessiontest.Pair(t, cfg)
	pa, pb := sessiontest.Connect(t, a, b, sessiontest.TCP)
	n := transferSize(t)
	marks := []int64{n / 5, n / 2, n * 4 / 5}
	transfer(t, a, b, n, marks, func(i int) {
		mk := sessiontest.TCP
		if i == 1 {
			mk = sessiontest.Pipe
		}
		oldA, oldB := pa, pb
		pa, pb = sessiontest.Connect(t, a, b, mk)
		// The old path is closed by the upgrade.
		if _, err := oldA.Write([]byte{0}); err == nil {
			t.Errorf("upgrade %d: old path still writable", i)
		}
		_ = oldB
	})
	if got := upgrades.Load(); got != 2*int32(len(marks)) {
		t.Errorf("%d upgrade events, want %d", got, 2*len(marks))
	}
}

// TestPeerRestarted: a peer that lost the link (a new process) makes the
// old link fail at once, and refuses the resume.
func TestPeerRestarted(t *testing.T) {
	checkGoroutines(t)
	a, b := sessiontest.Pair(t, session.Config{})
	pa, _ := sessiontest.Connect(t, a, b, sessiontest.Pipe)
	ctx := ctxT(t)
	s, _ := a.Open(ctx, session.Header{})
	s.Write([]byte("before"))
	if _, err := b.Accept(ctx); err != nil {
		t.Fatal(err)
	}
	// b's process dies; its successor has a fresh link.
	pa.Close()
	b.Close()
	b2, err := session.New(session.Config{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	x, y := sessiontest.Pipe(t)
	start := time.Now()
	ea, eb := sessiontest.AttachErr(a, b2, x, y)
	if !errors.Is(ea, session.ErrPeerRestarted) {
		t.Errorf("old side's attach: %v, want ErrPeerRestarted", ea)
	}
	if !errors.Is(eb, session.ErrUnknownLink) {
		t.Errorf("new side's attach: %v, want ErrUnknownLink", eb)
	}
	select {
	case <-a.Done():
	case <-time.After(time.Second):
		t.Fatal("the old link did not fail at once")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("failure took %v", d)
	}
	if !errors.Is(a.Err(), session.ErrPeerRestarted) {
		t.Errorf("link error %v", a.Err())
	}
	_, err = s.Write([]byte("x"))
	var ae *session.AbortError
	if !errors.As(err, &ae) || !errors.Is(err, session.ErrPeerRestarted) {
		t.Errorf("stream write: %v, want an AbortError wrapping ErrPeerRestarted", err)
	}
	// The new link is unharmed and takes the peer's next link.
	if b2.Err() != nil {
		t.Errorf("new link failed: %v", b2.Err())
	}
	a2, err := session.New(session.Config{}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	sessiontest.Connect(t, a2, b2, sessiontest.Pipe)
	s2, _ := a2.Open(ctx, session.Header{})
	s2.Write([]byte("after"))
	s2.CloseWrite()
	r2, err := b2.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r2); err != nil || string(got) != "after" {
		t.Fatalf("on the new link: %q, %v", got, err)
	}
}

// TestManyStreams runs 100 streams over one link at once, opened all at
// once (the peer must see their opens in the order of their IDs).
func TestManyStreams(t *testing.T) {
	checkGoroutines(t)
	a, b := sessiontest.Pair(t, session.Config{})
	sessiontest.Connect(t, a, b, sessiontest.TCP)
	ctx := ctxT(t)
	const streams = 100
	const size = 256 << 10
	var wg sync.WaitGroup
	wg.Go(func() {
		for range streams {
			r, err := b.Accept(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			wg.Go(func() {
				// Echo, then end.
				io.Copy(r, r)
				r.CloseWrite()
			})
		}
	})
	errs := make(chan error, streams)
	for i := range streams {
		wg.Go(func() {
			s, err := a.Open(ctx, session.Header{Service: fmt.Sprint("s", i)})
			if err != nil {
				errs <- err
				return
			}
			var want [32]byte
			var werr error
			done := make(chan struct{})
			go func() {
				want, werr = sendAll(s, byte(i), size, 4096+i)
				close(done)
			}()
			got, n, err := recvAll(s, nil)
			<-done
			switch {
			case werr != nil:
				errs <- werr
			case err != nil:
				errs <- err
			case n != size || got != want:
				errs <- fmt.Errorf("stream %d: %d bytes back, intact %v", i, n, got == want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := a.Stats().Streams; n != 0 {
		t.Errorf("%d streams left open on a", n)
	}
}

// TestCrossedUpgrade: both sides attach two new paths in opposite order
// (each side's node saw them finish in another order): both end on the
// same path, and data flows.
func TestCrossedUpgrade(t *testing.T) {
	checkGoroutines(t)
	a, b := sessiontest.Pair(t, session.Config{})
	sessiontest.Connect(t, a, b, sessiontest.Pipe)
	xa, xb := sessiontest.Pipe(t)
	ya, yb := sessiontest.Pipe(t)
	ctx := ctxT(t)
	// a attaches x then y, b y then x.
	errs := make(chan error, 4)
	attach := func(l *session.Link, p io.ReadWriteCloser) { errs <- l.Attach(ctx, p) }
	go attach(a, xa)
	go attach(b, yb)
	time.Sleep(20 * time.Millisecond)
	go attach(a, ya)
	go attach(b, xb)
	var stale int
	for range 4 {
		if err := <-errs; errors.Is(err, session.ErrStalePath) {
			stale++
		} else if err != nil {
			t.Fatalf("attach: %v", err)
		}
	}
	t.Logf("%d attaches found stale", stale)
	s, _ := a.Open(ctx, session.Header{})
	go func() {
		s.Write([]byte("after the crossing"))
		s.CloseWrite()
	}()
	r, err := b.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	go func() {
		got, _ := io.ReadAll(r)
		done <- got
	}()
	select {
	case got := <-done:
		if string(got) != "after the crossing" {
			t.Fatalf("got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no data after the crossed attaches: a %s, b %s", a.State(), b.State())
	}
	if a.State() != session.StateConnected || b.State() != session.StateConnected {
		t.Fatalf("states %s / %s", a.State(), b.State())
	}
}
