package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// resetPair is a lab with two nodes, each behind an easy NAT of its own
// that answers unsolicited TCP with a reset (natlab.RejectWithReset), as
// OpenWrt's default reject does, with no added delay.
func resetPair(t testing.TB, opts ...natlab.RouterOption) (from, to *labNode) {
	t.Helper()
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	hosts := map[string]*natlab.Host{
		"easy-a": lab.AddRouter(natlab.Easy, opts...).AddHost(),
		"easy-b": lab.AddRouter(natlab.Easy, opts...).AddHost(),
	}
	nodes := startLabNodes(t, wan, ntp.Addr().String(), hosts)
	return nodes["easy-a"], nodes["easy-b"]
}

// punchFresh connects from to to by the punch strategy alone on a fresh
// path (a punch even when the nodes have a link), with a timeout_ms of
// timeout; it returns the status, the connection and how long it took.
func punchFresh(t testing.TB, from, to *labNode, timeout time.Duration) (int, connection, time.Duration) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"address":    to.info.Address,
		"strategies": []string{"punch"},
		"fresh":      true,
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

// TestPunchResettingRouters punches 10 times between two easy NATs that
// reset unsolicited SYNs, at no added delay, where a peer's SYN that
// reaches a NAT before the NAT's own side has sent its SYN is reset and
// takes the mapping with it. A dial refused by such a reset is dialled
// again at once rather than at its next slot (punch/slot.go), so the SYNs
// soon cross and every punch must connect.
func TestPunchResettingRouters(t *testing.T) {
	from, to := resetPair(t, natlab.RejectWithReset())
	for i := range 10 {
		status, c, took := punchFresh(t, from, to, 15*time.Second)
		if status != http.StatusCreated || c.Strategy != "punch" {
			t.Fatalf("punch %d of 10: status %d, strategy %q, want 201 by punch: %s %+v", i+1, status, c.Strategy, c.Detail, c.Attempts)
		}
		from.close(t, c.ID)
		t.Logf("punch %d: %v", i+1, took.Round(time.Millisecond))
	}
}

// BenchmarkPunchResettingRouters runs, per round, 20 punches (the punch
// strategy alone, fresh paths) between two easy NATs at no added delay,
// once with routers that drop unsolicited SYNs and once with routers that
// reset them, and reports how many connected and their median and worst
// connect times. Run it with
//
//	CI=true go test -run '^$' -bench PunchResettingRouters -benchtime 1x ./internal/e2e
func BenchmarkPunchResettingRouters(b *testing.B) {
	const punches = 20
	for _, tc := range []struct {
		name string
		opts []natlab.RouterOption
	}{
		{"silent", nil},
		{"reset", []natlab.RouterOption{natlab.RejectWithReset()}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			from, to := resetPair(b, tc.opts...)
			var ok, tries int
			var times []time.Duration
			for range b.N {
				for range punches {
					tries++
					status, c, took := punchFresh(b, from, to, 15*time.Second)
					if status != http.StatusCreated {
						b.Logf("punch failed after %v: %s", took.Round(time.Millisecond), c.Detail)
						continue
					}
					ok++
					times = append(times, took)
					from.close(b, c.ID)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(ok)/float64(tries), "success")
			if len(times) > 0 {
				b.ReportMetric(punchMS(times[len(times)/2]), "connect-p50-ms")
				b.ReportMetric(punchMS(times[len(times)-1]), "connect-max-ms")
			}
		})
	}
}
