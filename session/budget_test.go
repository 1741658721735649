package session_test

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/session/sessiontest"
)

// TestStreamFloodStaysInRecvBudget: peers (one key, then four) open 1,100
// streams each and send 2 MiB on every one, to a node whose readers take
// nothing. What the node holds (received and not read, and promised by
// its windows) stays within the receive budget the links share; once the
// peers are gone and the node drops their connections, it is all freed.
func TestStreamFloodStaysInRecvBudget(t *testing.T) {
	for _, peers := range []int{1, 4} {
		t.Run(map[int]string{1: "one key", 4: "four keys"}[peers], func(t *testing.T) {
			const limit = 32 << 20
			budget := session.NewBudget(limit)
			victimCfg := session.Config{StreamWindow: 2 << 20, RecvBudget: budget, MaxStreams: 2064, AcceptBacklog: 2064}
			var (
				mu        sync.Mutex
				accepted  []*session.Stream
				wg        sync.WaitGroup
				accepting sync.WaitGroup // the victims' accept loops
			)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var attackers, victims []*session.Link
			for range peers {
				a, err := session.New(session.Config{}, true)
				if err != nil {
					t.Fatal(err)
				}
				v, err := session.New(victimCfg, false)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { a.Close(); v.Close() })
				sessiontest.Connect(t, a, v, sessiontest.TCP)
				attackers = append(attackers, a)
				victims = append(victims, v)
				accepting.Go(func() {
					for {
						s, err := v.Accept(ctx)
						if err != nil {
							return
						}
						mu.Lock()
						accepted = append(accepted, s)
						mu.Unlock()
					}
				})
				for range 1100 {
					s, err := a.Open(ctx, session.Header{})
					if err != nil {
						t.Fatal(err)
					}
					wg.Go(func() { s.Write(make([]byte, 2<<20)) })
				}
			}
			held := func() (n int64) {
				mu.Lock()
				defer mu.Unlock()
				for _, s := range accepted {
					n += int64(s.Stats().Buffered)
				}
				return n
			}
			// Watch until what the node holds stops growing.
			var peak, last int64
			for still := 0; still < 20; {
				time.Sleep(50 * time.Millisecond)
				h := held()
				if h > limit || budget.Used() > limit {
					t.Fatalf("the node holds %d bytes (budget used %d), more than its budget of %d", h, budget.Used(), limit)
				}
				if h == last {
					still++
				} else {
					still = 0
				}
				last, peak = h, max(peak, h)
			}
			if peak < limit/2 {
				t.Errorf("the node took in only %d bytes of a %d budget", peak, limit)
			}
			t.Logf("%d streams accepted, %d bytes held, %d refused for the budget", len(accepted), peak, budget.Refused())

			for _, a := range attackers {
				a.Close()
			}
			for _, v := range victims {
				<-v.Done()
			}
			// A failed link still hands out the streams in its accept
			// backlog: the node lists them, then drops them as ended.
			accepting.Wait()
			mu.Lock()
			for _, s := range accepted {
				s.Discard() // as the node does once a connection ended
			}
			mu.Unlock()
			if used := budget.Used(); used != 0 {
				t.Errorf("after the peers left, the budget still counts %d bytes", used)
			}
			cancel()
			wg.Wait()
		})
	}
}

// BenchmarkStreamFloodRSS: one peer opens 1,100 streams and sends 2 MiB
// on each to a node whose readers take nothing; it reports what the node
// holds (received, unread) and how far the process's resident memory
// grew, with the default receive budget (256 MiB) and without one.
func BenchmarkStreamFloodRSS(b *testing.B) {
	for _, limit := range []int64{256 << 20, 0} {
		name := "budget=256MiB"
		if limit == 0 {
			name = "no-budget"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				runtime.GC()
				debug.FreeOSMemory()
				before := procStatus(b, "VmRSS")
				var budget *session.Budget
				if limit > 0 {
					budget = session.NewBudget(limit)
				}
				a, err := session.New(session.Config{}, true)
				if err != nil {
					b.Fatal(err)
				}
				v, err := session.New(session.Config{StreamWindow: 2 << 20, RecvBudget: budget, MaxStreams: 2064, AcceptBacklog: 2064}, false)
				if err != nil {
					b.Fatal(err)
				}
				sessiontest.Connect(b, a, v, sessiontest.TCP)
				var mu sync.Mutex
				var accepted []*session.Stream
				var wg sync.WaitGroup
				ctx, cancel := context.WithCancel(context.Background())
				wg.Go(func() {
					for {
						s, err := v.Accept(ctx)
						if err != nil {
							return
						}
						mu.Lock()
						accepted = append(accepted, s)
						mu.Unlock()
					}
				})
				payload := make([]byte, 2<<20)
				for range 1100 {
					s, err := a.Open(ctx, session.Header{})
					if err != nil {
						b.Fatal(err)
					}
					wg.Go(func() { s.Write(payload) })
				}
				var last int64 = -1
				for still := 0; still < 20; {
					time.Sleep(50 * time.Millisecond)
					mu.Lock()
					var h int64
					for _, s := range accepted {
						h += int64(s.Stats().Buffered)
					}
					mu.Unlock()
					if h == last {
						still++
					} else {
						still = 0
					}
					last = h
				}
				b.ReportMetric(float64(last)/(1<<20), "held-MiB")
				b.ReportMetric(float64(procStatus(b, "VmHWM")-before)/(1<<20), "rss-growth-MiB")
				a.Close()
				v.Close()
				cancel()
				wg.Wait()
			}
		})
	}
}

// TestAbortAfterLinkFailureFreesBudget: a stream handed out of a failed
// link's accept backlog and then refused (aborted) gives its reservation
// back, as one that is read to its end does.
func TestAbortAfterLinkFailureFreesBudget(t *testing.T) {
	budget := session.NewBudget(8 << 20)
	a, err := session.New(session.Config{}, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := session.New(session.Config{RecvBudget: budget}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	sessiontest.Connect(t, a, b, sessiontest.TCP)
	s, err := a.Open(t.Context(), session.Header{})
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("x"))
	for budget.Used() == 0 {
		time.Sleep(time.Millisecond) // until b has taken the open in
	}
	a.Close()
	<-b.Done()
	in, err := b.Accept(t.Context())
	if err != nil {
		t.Fatalf("the failed link's backlog: %v", err)
	}
	in.Abort("refused")
	if used := budget.Used(); used != 0 {
		t.Fatalf("the aborted stream still holds %d bytes of the budget", used)
	}
}
