package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/strategy"
)

// TestConnectSteps: the winning attempt of each strategy alone carries its
// timeline, the moments in their order, in ms from the connect's start.
func TestConnectSteps(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	bAddr := mustParse(t, b.Address())
	// Each strategy's moments in order; those marked optional may be
	// missing (a punch whose peer's SYN arrives before our first dial
	// sends none). The relay's reply comes after the peer dialled the
	// relay, before or after the relayed connection is ours, or after the
	// commit: it may be anywhere after the request.
	type moment struct {
		name     string
		optional bool
	}
	end := []moment{{strategy.MarkTCPEstablished, false}, {strategy.MarkTLSDone, false}, {strategy.MarkCommitted, false}}
	want := map[string][]moment{
		strategy.Direct:  end,
		strategy.Reverse: append([]moment{{strategy.MarkSignalingSent, false}}, end...),
		strategy.Punch: append([]moment{{strategy.MarkSignalingSent, false}, {strategy.MarkSignalingAnswered, false},
			{strategy.MarkMeetingTime, false}, {strategy.MarkFirstSYN, true}}, end...),
		strategy.Relay: append([]moment{{strategy.MarkTURNAllocated, false}, {strategy.MarkSignalingSent, false}}, end...),
	}
	for _, s := range node.DefaultStrategies {
		t.Run(s, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			out, err := a.ConnectWith(ctx, bAddr, node.ConnectOptions{Strategies: []string{s}, Fresh: true})
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start).Milliseconds()
			defer out.Close()
			info := out.Info()
			if len(info.Attempts) != 1 || info.Attempts[0].Outcome != "ok" {
				t.Fatalf("attempts %+v", info.Attempts)
			}
			steps := info.Attempts[0].Steps
			t.Logf("%s in %d ms: %+v", s, took, steps)
			var names []string
			for i, st := range steps {
				if s == strategy.Relay && st.Name == strategy.MarkSignalingAnswered {
					if i < 2 {
						t.Errorf("the relay's reply came before its request (%+v)", steps)
					}
				} else {
					names = append(names, st.Name)
				}
				if st.MS < 0 || st.MS > took || i > 0 && st.MS < steps[i-1].MS {
					t.Errorf("step %s at %d ms: not in order within the connect's %d ms (%+v)", st.Name, st.MS, took, steps)
				}
			}
			// names must be want[s] in order, the optional ones maybe left out.
			j := 0
			for _, m := range want[s] {
				if j < len(names) && names[j] == m.name {
					j++
				} else if !m.optional {
					t.Fatalf("steps %v, want %s at %d (all: %v)", names, m.name, j, want[s])
				}
			}
			if j != len(names) {
				t.Fatalf("steps %v, want %v", names, want[s])
			}
		})
	}
}
