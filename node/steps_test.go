package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/strategy"
)

// TestConnectSteps: the winning attempt of each strategy alone carries its
// timeline, the moments in their order, in ms from the connect's start;
// and a punch sends one signaling message, its request, which carries the
// meeting time (no echo before it: the node knows its brokers' round
// trip).
func TestConnectSteps(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	bAddr := mustParse(t, b.Address())
	// Each strategy's moments in order; those marked optional may be
	// missing (a punch whose peer's SYN arrives before our first dial
	// sends none).
	type moment struct {
		name     string
		optional bool
	}
	end := []moment{{strategy.MarkTCPEstablished, false}, {strategy.MarkTLSDone, false}, {strategy.MarkCommitted, false}}
	want := map[string][]moment{
		strategy.Direct:  end,
		strategy.Reverse: append([]moment{{strategy.MarkSignalingSent, false}}, end...),
		strategy.Punch: append([]moment{{strategy.MarkSignalingSent, false},
			{strategy.MarkMeetingTime, false}, {strategy.MarkFirstSYN, true}}, end...),
		strategy.Relay: append([]moment{{strategy.MarkTURNAllocated, false}, {strategy.MarkSignalingSent, false}}, end...),
	}
	// Moments that float: the reply may come anywhere after its request
	// and, for a punch, before the connection (the meeting time is only
	// a margin after the round trip it expects); the relay's after the
	// peer dialled the relay, before or after the relayed connection is
	// ours, or after the commit.
	type float struct{ after, before string }
	floating := map[string]map[string]float{
		strategy.Punch: {strategy.MarkSignalingAnswered: {strategy.MarkSignalingSent, strategy.MarkTCPEstablished}},
		strategy.Relay: {strategy.MarkSignalingAnswered: {strategy.MarkSignalingSent, ""}},
	}
	for _, s := range node.DefaultStrategies {
		t.Run(s, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			sentBefore := messagesOut(a)
			start := time.Now()
			out, err := a.ConnectWith(ctx, bAddr, node.ConnectOptions{Strategies: []string{s}, Fresh: true})
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start).Milliseconds()
			defer out.Close()
			if s == strategy.Punch {
				if n := messagesOut(a) - sentBefore; n != 1 {
					t.Errorf("the punch sent %d signaling messages, want 1 (the request with the meeting time)", n)
				}
			}
			info := out.Info()
			if len(info.Attempts) != 1 || info.Attempts[0].Outcome != "ok" {
				t.Fatalf("attempts %+v", info.Attempts)
			}
			steps := info.Attempts[0].Steps
			t.Logf("%s in %d ms: %+v", s, took, steps)
			var names, all []string
			for i, st := range steps {
				all = append(all, st.Name)
				if _, ok := floating[s][st.Name]; !ok {
					names = append(names, st.Name)
				}
				if st.MS < 0 || st.MS > took || i > 0 && st.MS < steps[i-1].MS {
					t.Errorf("step %s at %d ms: not in order within the connect's %d ms (%+v)", st.Name, st.MS, took, steps)
				}
			}
			for name, f := range floating[s] {
				i := slices.Index(all, name)
				switch {
				case i < 0:
					t.Errorf("no %s in %v", name, all)
				case slices.Index(all, f.after) > i:
					t.Errorf("%s before %s in %v", name, f.after, all)
				case f.before != "" && slices.Index(all, f.before) < i:
					t.Errorf("%s after %s in %v", name, f.before, all)
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
