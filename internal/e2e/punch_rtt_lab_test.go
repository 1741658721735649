package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// longLink is a long, jittery path: 150 ms each way with ±15 ms of jitter
// on each router's link, so 300 ms one way between hosts behind two such
// routers (±30 ms), a 600 ms round trip, like a geostationary satellite
// link.
var longLink = natlab.Link{Delay: 150 * time.Millisecond, Jitter: 15 * time.Millisecond}

// punchConnectTimeout is the timeout_ms of a long-path punch: generous, as
// the test asserts success, not time.
const punchConnectTimeout = 30 * time.Second

// easyPair is a lab with two nodes, each behind an easy NAT (masquerade)
// of its own whose WAN link is link.
func easyPair(t testing.TB, link natlab.Link) (from, to *labNode) {
	t.Helper()
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	hosts := map[string]*natlab.Host{
		"easy-a": lab.AddRouter(natlab.Easy, linkOpts(link)...).AddHost(),
		"easy-b": lab.AddRouter(natlab.Easy, linkOpts(link)...).AddHost(),
	}
	nodes := startLabNodes(t, wan, ntp.Addr().String(), hosts)
	return nodes["easy-a"], nodes["easy-b"]
}

// connectWithin is connect with a timeout_ms, and an HTTP client that waits
// for it; it returns how long POST /v1/connections took.
func connectWithin(t testing.TB, from, to *labNode, timeout time.Duration, strategies ...string) (int, connection, time.Duration) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"address":    to.info.Address,
		"strategies": strategies,
		"timeout_ms": timeout.Milliseconds(),
	})
	api := *from.api
	api.http = &http.Client{Transport: from.api.http.Transport, Timeout: timeout + 10*time.Second}
	var c connection
	start := time.Now()
	status, err := api.do("POST", "/v1/connections", string(body), &c)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("connect %s -> %s: %v", from.name, to.name, err)
	}
	return status, c, took
}

// TestPunchLongRTT punches between two easy NATs over a 600 ms round trip
// with ±30 ms of jitter each way, where dial attempts of a fixed 500 ms
// were abandoned before the peer's answer could come. It asserts that the
// punch connects, not how fast (BenchmarkPunchLongRTT measures that).
func TestPunchLongRTT(t *testing.T) {
	from, to := easyPair(t, longLink)
	status, c, took := connectWithin(t, from, to, punchConnectTimeout, "punch")
	if status != http.StatusCreated || c.Strategy != "punch" {
		t.Fatalf("%s: status %d, strategy %q, want 201 by punch: %s %+v", longLink, status, c.Strategy, c.Detail, c.Attempts)
	}
	to.inbound(t, from.info.NodeID, "punch")
	from.close(t, c.ID)
	t.Logf("punched in %v over %s on each router's link", took.Round(time.Millisecond), longLink)
}

// BenchmarkPunchLongRTT runs, per round, 10 punches (the punch strategy
// alone) between two easy NATs without delay and over longLink, and
// reports how many connected and their connect times. Run it with
//
//	CI=true go test -run '^$' -bench PunchLongRTT -benchtime 1x ./internal/e2e
func BenchmarkPunchLongRTT(b *testing.B) {
	const punches = 10
	for _, link := range []natlab.Link{{}, longLink} {
		b.Run(strings.ReplaceAll(link.String(), " ", "_"), func(b *testing.B) {
			from, to := easyPair(b, link)
			var ok int
			var times []time.Duration
			var fails []string
			for range b.N {
				for range punches {
					status, c, took := connectWithin(b, from, to, punchConnectTimeout, "punch")
					if status != http.StatusCreated {
						fails = append(fails, c.Detail)
						continue
					}
					ok++
					times = append(times, took)
					from.close(b, c.ID)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(ok)/float64(b.N), "punched/10")
			if len(times) > 0 {
				b.ReportMetric(punchMS(times[len(times)/2]), "connect-p50-ms")
				b.ReportMetric(punchMS(times[len(times)-1]), "connect-max-ms")
				b.ReportMetric(punchMS(times[0]), "connect-min-ms")
			}
			for _, f := range fails {
				b.Logf("punch failed: %s", f)
			}
		})
	}
}

func punchMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
