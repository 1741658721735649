package turn_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/turn"
	"github.com/reachd/reachd/turn/turntest"
)

const (
	srvA = "turn://u:p@192.0.2.1:3478"
	srvB = "turn://u:p@192.0.2.2:3478"
	srvC = "turn://u:p@192.0.2.3:3478"
)

// fakeRTTs answers probes with round trips a test sets.
type fakeRTTs struct {
	mu  sync.Mutex
	rtt map[string]time.Duration // 0: the probe fails
}

func (f *fakeRTTs) set(url string, rtt time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rtt[url] = rtt
}

func (f *fakeRTTs) probe(_ context.Context, url string) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rtt[url] == 0 {
		return 0, errors.New("no answer")
	}
	return f.rtt[url], nil
}

// startPool runs a pool over the fake probes until the test ends; call it
// inside a synctest bubble.
func startPool(t *testing.T, f *fakeRTTs, urls ...string) *turn.Pool {
	t.Helper()
	p, err := turn.NewPool(turn.PoolConfig{URLs: urls, Probe: f.probe, Interval: 10 * time.Second, Cooldown: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	synctest.Wait() // the first round
	return p
}

// rounds lets n probe rounds pass.
func rounds(n int) {
	for range n {
		time.Sleep(10 * time.Second)
		synctest.Wait()
	}
}

func first(p *turn.Pool) string { return p.Order()[0] }

func TestPoolPrefersNearestWithHysteresis(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRTTs{rtt: map[string]time.Duration{srvA: 40 * time.Millisecond, srvB: 20 * time.Millisecond, srvC: 60 * time.Millisecond}}
		p := startPool(t, f, srvA, srvB, srvC)
		if got := p.Order(); got[0] != srvB || got[1] != srvA || got[2] != srvC {
			t.Fatalf("order %v, want B (20ms), A (40ms), C (60ms)", got)
		}
		// A comes a little nearer than B: not enough to move.
		f.set(srvA, 17*time.Millisecond)
		rounds(20)
		if got := first(p); got != srvB {
			t.Fatalf("preferred %s after A came 3ms nearer than B, want B kept (hysteresis)", got)
		}
		// A comes much nearer: it takes over.
		f.set(srvA, 5*time.Millisecond)
		rounds(20)
		if got := first(p); got != srvA {
			t.Fatalf("preferred %s after A came 15ms nearer than B, want A", got)
		}
	})
}

func TestPoolFailingServerGoesLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRTTs{rtt: map[string]time.Duration{srvA: 10 * time.Millisecond, srvB: 30 * time.Millisecond}}
		p := startPool(t, f, srvA, srvB)
		if got := first(p); got != srvA {
			t.Fatalf("preferred %s, want A", got)
		}
		// An allocation on A is refused as full (486): allocations go to B.
		p.Report(srvA, 0, &turn.ServerError{Op: "allocate", Code: 486, Reason: "Allocation Quota Reached"})
		if got := p.Order(); got[0] != srvB || got[1] != srvA {
			t.Fatalf("order %v after A refused an allocation, want B first", got)
		}
		// A dies: its probes fail, it stays last past the cooldown.
		f.set(srvA, 0)
		rounds(6)
		if got := p.Order(); got[0] != srvB {
			t.Fatalf("order %v with A dead, want B first", got)
		}
		st := p.Servers()
		if !st[1].Cooling || st[1].LastError == "" || st[0].Preferred != true {
			t.Errorf("servers %+v, want B preferred and A cooling with its error", st)
		}
		// A comes back, nearer: a good probe ends its cooldown, and it is
		// far enough ahead to be preferred again.
		f.set(srvA, 10*time.Millisecond)
		rounds(1)
		if got := first(p); got != srvA {
			t.Fatalf("preferred %s after A came back, want A", got)
		}
	})
}

func TestPoolUnmeasuredKeepConfiguredOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRTTs{rtt: map[string]time.Duration{srvC: 10 * time.Millisecond}}
		p := startPool(t, f, srvA, srvB, srvC)
		// A and B fail their probes: after C, longest cooling first.
		if got := p.Order(); got[0] != srvC {
			t.Fatalf("order %v, want the one measured server C first", got)
		}
	})
}

// The default probe measures a real TURN server, ours and coturn, and
// fails on a closed port.
func TestProbeBinding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, url := range map[string]string{
		"embedded": rendezvoustest.TURNURL(rendezvoustest.Start(t)),
		"coturn":   turntest.StartCoturn(t).URL(),
	} {
		rtt, err := turn.ProbeBinding(ctx, url)
		if err != nil || rtt <= 0 {
			t.Errorf("%s: probe = %v, %v; want a round trip", name, rtt, err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := turn.ProbeBinding(ctx, "turn://u:p@"+addr); err == nil {
		t.Error("probe of a closed port succeeded")
	}
}
