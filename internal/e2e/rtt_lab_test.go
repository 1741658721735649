package e2e

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// rttPairs are the hosts of BenchmarkConnectRTT for each strategy alone:
// a pair where it is the one that works best.
var rttPairs = []struct{ strategy, from, to string }{
	{"direct", "easy-a", "public-b"},
	{"reverse", "public-b", "easy-a"},
	{"punch", "easy-a", "easy-b"},
	{"relay", "hard-a", "hard-b"},
}

// rttModes are the two kinds of connect BenchmarkConnectRTT measures: to
// a peer the node has no link with (the link of the round before closed
// on both sides), and a fresh race on a live link (a new path that
// replaces the link's, as "fresh" does).
var rttModes = []string{"new_link", "live_link"}

// rttRounds is how many connects each cell of BenchmarkConnectRTT takes
// the median of.
const rttRounds = 5

// rttLinkIdle is the --link-idle of the nodes of BenchmarkConnectRTT: a
// link closes soon after its last connection, so that a new_link round
// starts with none. It exceeds the longest connect measured: a link
// still attaching its first path must not close as idle.
const rttLinkIdle = 3 * time.Second

// rttCell is one strategy at one round trip: the connect times and the
// winning attempt's steps of each round.
type rttCell struct {
	took  []time.Duration
	steps map[string][]int64 // step name -> ms of each round that had it
	order []string           // step names in the order first seen
}

func (c *rttCell) add(took time.Duration, conn connection) {
	c.took = append(c.took, took)
	for _, a := range conn.Attempts {
		if a.Outcome != "ok" {
			continue
		}
		for _, st := range a.Steps {
			if _, ok := c.steps[st.Name]; !ok {
				c.order = append(c.order, st.Name)
			}
			c.steps[st.Name] = append(c.steps[st.Name], st.MS)
		}
	}
}

// BenchmarkConnectRTT measures each strategy alone between two hosts
// whose routers drop unsolicited packets silently, at 0, 100, 300 and
// 700 ms of round trip between the peers: every router's WAN link delays
// each frame by a quarter of it, and the rendezvous (broker, STUN, TURN)
// sits on the WAN between them, so the signaling path through the broker
// is as long as the direct one, and a node's round trip to the rendezvous
// is half the peers'. Each cell is the median of rttRounds connects (see
// rttModes), in ms and in units of the peers' round trip, with the median
// of each step of the winning attempt's timeline. It prints them as
// Markdown tables. Run it with
//
//	CI=true go test -run '^$' -bench ConnectRTT -benchtime 1x -timeout 60m ./internal/e2e
func BenchmarkConnectRTT(b *testing.B) {
	rtts := []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond}
	cells := map[string]map[time.Duration]map[string]*rttCell{}
	for _, mode := range rttModes {
		cells[mode] = map[time.Duration]map[string]*rttCell{}
	}
	for _, rtt := range rtts {
		b.Run(fmt.Sprintf("rtt_%dms", rtt.Milliseconds()), func(b *testing.B) {
			nodes := rttLab(b, natlab.Link{Delay: rtt / 4})
			for _, mode := range rttModes {
				cells[mode][rtt] = map[string]*rttCell{}
				for _, p := range rttPairs {
					b.Run(mode+"/"+p.strategy, func(b *testing.B) {
						cell := &rttCell{steps: map[string][]int64{}}
						cells[mode][rtt][p.strategy] = cell
						from, to := nodes[p.from], nodes[p.to]
						// Their addresses as they are now: a probe may
						// have learnt more since the start.
						from.info, to.info = waitReady(b, from.api, from.proc), waitReady(b, to.api, to.proc)
						var holder connection
						if mode == "live_link" {
							_, holder = timedConnect(b, from, to, p.strategy)
						}
						for range b.N {
							for range rttRounds {
								if mode == "new_link" {
									waitNoLink(b, from, to)
								}
								took, c := timedConnect(b, from, to, p.strategy)
								cell.add(took, c)
								from.close(b, c.ID)
							}
						}
						if holder.ID != "" {
							from.close(b, holder.ID)
						}
						ms := float64(median(cell.took).Microseconds()) / 1000
						b.ReportMetric(ms, "connect-ms")
						if rtt > 0 {
							b.ReportMetric(ms/float64(rtt.Milliseconds()), "connect-rtt")
						}
					})
				}
			}
		})
	}
	for _, mode := range rttModes {
		printRTTTables(os.Stdout, mode, rtts, cells[mode])
	}
}

// rttLab starts the lab of BenchmarkConnectRTT: the hosts of rttPairs,
// each behind a router of its kind whose WAN link is link.
func rttLab(b *testing.B, link natlab.Link) map[string]*labNode {
	lab := natlab.New(b)
	ntp := lab.StartNTP(b)
	wan := startRendezvous(b, lab)
	opts := linkOpts(link)
	hosts := map[string]*natlab.Host{
		"easy-a":   lab.AddRouter(natlab.Easy, opts...).AddHost(),
		"easy-b":   lab.AddRouter(natlab.Easy, opts...).AddHost(),
		"public-b": lab.AddRouter(natlab.Public, opts...).AddHost(),
		"hard-a":   lab.AddRouter(natlab.Hard, opts...).AddHost(),
		"hard-b":   lab.AddRouter(natlab.Hard, opts...).AddHost(),
	}
	return startLabNodes(b, wan, ntp.Addr().String(), hosts, "--link-idle", rttLinkIdle.String())
}

// waitNoLink waits until neither node has a link with the other.
func waitNoLink(t testing.TB, a, b *labNode) {
	t.Helper()
	linked := func(n, peer *labNode) (bool, error) {
		var info struct {
			Peers []struct {
				NodeID string `json:"node_id"`
			} `json:"peers"`
		}
		if _, err := n.api.do("GET", "/v1/node", "", &info); err != nil {
			return false, err
		}
		return slices.ContainsFunc(info.Peers, func(p struct {
			NodeID string `json:"node_id"`
		}) bool {
			return p.NodeID == peer.info.NodeID
		}), nil
	}
	waitFor(t, a.name+" and "+b.name+" have no link", a.proc, 20*time.Second, func() (bool, error) {
		for _, pair := range [][2]*labNode{{a, b}, {b, a}} {
			if l, err := linked(pair[0], pair[1]); l || err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

// printRTTTables prints the connect times (strategy × RTT) and the step
// medians (one row per strategy and RTT) of one mode as Markdown.
func printRTTTables(w io.Writer, mode string, rtts []time.Duration, cells map[time.Duration]map[string]*rttCell) {
	var t strings.Builder
	fmt.Fprintf(&t, "\n%s: median connect time (in RTT)\n\n| peer ↔ peer RTT |", mode)
	for _, p := range rttPairs {
		fmt.Fprintf(&t, " %s |", p.strategy)
	}
	fmt.Fprintf(&t, "\n| --- |%s\n", strings.Repeat(" --: |", len(rttPairs)))
	for _, rtt := range rtts {
		fmt.Fprintf(&t, "| %d ms |", rtt.Milliseconds())
		for _, p := range rttPairs {
			c := cells[rtt][p.strategy]
			if c == nil || len(c.took) == 0 {
				fmt.Fprintf(&t, " – |")
				continue
			}
			ms := median(c.took).Milliseconds()
			fmt.Fprintf(&t, " %d ms%s |", ms, inRTT(ms, rtt))
		}
		t.WriteString("\n")
	}
	fmt.Fprintf(&t, "\n%s: steps of the winning attempt, medians in ms from the connect's start (in RTT)\n\n", mode)
	fmt.Fprintf(&t, "| strategy | RTT | steps |\n| --- | --: | --- |\n")
	for _, p := range rttPairs {
		for _, rtt := range rtts {
			c := cells[rtt][p.strategy]
			if c == nil {
				continue
			}
			type step struct {
				name string
				ms   int64
			}
			var steps []step
			for _, name := range c.order {
				v := slices.Clone(c.steps[name])
				slices.Sort(v)
				steps = append(steps, step{name, v[len(v)/2]})
			}
			slices.SortStableFunc(steps, func(a, b step) int { return int(a.ms - b.ms) })
			var parts []string
			for _, s := range steps {
				parts = append(parts, fmt.Sprintf("%s %d%s", s.name, s.ms, inRTT(s.ms, rtt)))
			}
			fmt.Fprintf(&t, "| %s | %d ms | %s |\n", p.strategy, rtt.Milliseconds(), strings.Join(parts, ", "))
		}
	}
	fmt.Fprint(w, t.String())
}

// inRTT is " (x.x)", ms in round trips, or "" without a round trip.
func inRTT(ms int64, rtt time.Duration) string {
	if rtt == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.1f)", float64(ms)/float64(rtt.Milliseconds()))
}
