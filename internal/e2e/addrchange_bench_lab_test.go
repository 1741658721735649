package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// BenchmarkAddressChange measures, over 10 WAN address changes of the
// router of a node linked to a peer behind another easy NAT: the time
// from the change to the new address in GET /v1/node, and the link's time
// without a path. Run it with
//
//	go test -run '^$' -bench AddressChange -benchtime 1x ./internal/e2e
func BenchmarkAddressChange(b *testing.B) {
	lab := natlab.New(b)
	ntp := lab.StartNTP(b)
	wan := startRendezvous(b, lab)
	rx := lab.AddRouter(natlab.Easy)
	nodes := startLabNodes(b, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"x": rx.AddHost(), "peer": lab.AddRouter(natlab.Easy).AddHost(),
	})
	x, peer := nodes["x"], nodes["peer"]
	status, c := connect(b, peer, x)
	if status != http.StatusCreated {
		b.Fatalf("connect: %d %s", status, c.Detail)
	}
	const changes = 10
	for range b.N {
		var advertise, gap []float64
		for range changes {
			before := len(peer.conn(b, c.ID).Paths)
			ip, err := rx.ChangeWANIP()
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			waitFor(b, "x advertises its new address", x.proc, 30*time.Second, func() (bool, error) {
				var info nodeInfo
				_, err := x.api.getJSON("/v1/node", &info)
				return err == nil && info.Address != "" && externalIP(b, info.Address) == ip, err
			})
			advertise = append(advertise, float64(time.Since(start).Milliseconds()))
			waitFor(b, "the link has a new path", peer.proc, 30*time.Second, func() (bool, error) {
				cn := peer.conn(b, c.ID)
				return len(cn.Paths) > before && cn.Paths[len(cn.Paths)-1].Until.IsZero(), nil
			})
			_, g := gaps(peer.conn(b, c.ID).Paths[before-1:])
			gap = append(gap, float64(g.Milliseconds()))
		}
		slices.Sort(advertise)
		slices.Sort(gap)
		b.ReportMetric(advertise[len(advertise)/2], "advertise-p50-ms")
		b.ReportMetric(advertise[len(advertise)-1], "advertise-max-ms")
		b.ReportMetric(gap[len(gap)/2], "pathless-p50-ms")
		b.ReportMetric(gap[len(gap)-1], "pathless-max-ms")
	}
	b.Logf("load %s", loadAvg())
}
