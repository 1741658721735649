package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// labPair is an initiator and a target in labMatrix, with the strategy
// expected to win the race: the first in the default order of preference
// among those that work for the pair.
type labPair struct {
	from, to, want string
}

func labPairs() []labPair {
	var pairs []labPair
	for _, f := range labKinds {
		for _, to := range labKinds {
			pairs = append(pairs, labPair{f.String() + "-a", to.String() + "-b", winner[[2]natlab.Kind{f, to}]})
		}
	}
	return append(pairs, labPair{"easy-a", "easy-lan", "direct"})
}

// raceLinks are the WAN links of the race test: none, and 50 ms each way
// with ±10 ms of jitter on every router's link (a 200 ms round trip
// between two hosts behind different routers).
var raceLinks = []natlab.Link{{}, {Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}}

// TestConnectRace races the default strategies between every pair of NAT
// kinds and a same-LAN pair, behind routers that drop unsolicited SYNs,
// without and with delay and jitter: each pair connects by the strategy
// the plan prefers among those that work, every other attempt says why it
// did not win, and the connect time is logged next to the time of the
// winning strategy alone (BenchmarkConnectRace measures them properly).
func TestConnectRace(t *testing.T) {
	for _, link := range raceLinks {
		t.Run(link.String(), func(t *testing.T) {
			nodes, _ := labMatrix(t, linkOpts(link)...)
			var table strings.Builder
			fmt.Fprintf(&table, "%-26s %-8s %10s %10s  %s\n", "pair", "winner", "race", "alone", "attempts (ms from the start)")
			for _, p := range labPairs() {
				from, to := nodes[p.from], nodes[p.to]
				race, c := timedConnect(t, from, to)
				if c.Strategy != p.want {
					t.Errorf("%s -> %s: won by %s, want %s; attempts %+v", p.from, p.to, c.Strategy, p.want, c.Attempts)
				}
				for _, a := range c.Attempts {
					if (a.Name == c.Strategy) != (a.Outcome == "ok") || (a.Outcome != "ok" && a.Reason == "") {
						t.Errorf("%s -> %s: attempt %+v: want only %s ok, and a reason for the others", p.from, p.to, a, c.Strategy)
					}
					if a.Outcome != "skipped" && a.FinishedMS < a.StartedMS {
						t.Errorf("%s -> %s: attempt %+v ends before it starts", p.from, p.to, a)
					}
				}
				to.inbound(t, from.info.NodeID, c.Strategy)
				from.close(t, c.ID)
				alone, c2 := timedConnect(t, from, to, p.want)
				from.close(t, c2.ID)
				fmt.Fprintf(&table, "%-26s %-8s %10v %10v  %s\n", p.from+" -> "+p.to, c.Strategy,
					race.Round(time.Millisecond), alone.Round(time.Millisecond), raceSummary(c))
			}
			t.Logf("connect times, %s:\n%s", link, table.String())
		})
	}
}

// raceSummary words a race's attempts: "direct ok 0-440, punch cancelled 0-441".
func raceSummary(c connection) string {
	var parts []string
	for _, a := range c.Attempts {
		if a.Outcome == "skipped" {
			parts = append(parts, a.Name+" skipped")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s %d-%d", a.Name, a.Outcome, a.StartedMS, a.FinishedMS))
	}
	return strings.Join(parts, ", ")
}

// linkOpts builds routers with link, and without a forwarder when link is
// the zero Link.
func linkOpts(link natlab.Link) []natlab.RouterOption {
	if link == (natlab.Link{}) {
		return nil
	}
	return []natlab.RouterOption{link}
}

// timedConnect connects from to to on a fresh path (a race even when the
// nodes have a path); it returns how long POST /v1/connections took and
// the connection.
func timedConnect(t testing.TB, from, to *labNode, strategies ...string) (time.Duration, connection) {
	t.Helper()
	start := time.Now()
	status, c := connectFresh(t, from, to, strategies...)
	took := time.Since(start)
	if status != http.StatusCreated {
		t.Fatalf("%s -> %s %v: status %d: %s %+v", from.name, to.name, strategies, status, c.Detail, c.Attempts)
	}
	return took, c
}

// BenchmarkConnectRace measures, for every pair of TestConnectRace and
// each link, the connect time with the default strategies against the
// winning strategy alone (medians of rounds that alternate the two), and
// reports whether the race stays within 1.5 times the strategy alone plus
// 100 ms. Run it with
//
//	go test -run '^$' -bench ConnectRace -benchtime 5x ./internal/e2e
func BenchmarkConnectRace(b *testing.B) {
	for _, link := range raceLinks {
		b.Run(strings.ReplaceAll(link.String(), " ", "_"), func(b *testing.B) {
			nodes, _ := labMatrix(b, linkOpts(link)...)
			for _, p := range labPairs() {
				b.Run(p.from+"_to_"+p.to, func(b *testing.B) {
					from, to := nodes[p.from], nodes[p.to]
					var race, alone []time.Duration
					for range b.N {
						d, c := timedConnect(b, from, to)
						if c.Strategy != p.want {
							b.Logf("won by %s, want %s", c.Strategy, p.want)
						}
						from.close(b, c.ID)
						race = append(race, d)
						d, c = timedConnect(b, from, to, p.want)
						from.close(b, c.ID)
						alone = append(alone, d)
					}
					r, a := median(race), median(alone)
					b.ReportMetric(float64(r.Microseconds())/1000, "race-ms")
					b.ReportMetric(float64(a.Microseconds())/1000, "alone-ms")
					aim := time.Duration(1.5*float64(a)) + 100*time.Millisecond
					within := 0.0
					if r <= aim {
						within = 1
					}
					b.ReportMetric(within, "within-aim")
				})
			}
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
