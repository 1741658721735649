package session_test

import (
	"context"
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
				mu       sync.Mutex
				accepted []*session.Stream
				wg       sync.WaitGroup
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
