package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/internal/natlab"
)

// reachInfo is the part of GET /v1/node these tests check for each
// interface: its TCP result and the dial-back verdict.
type reachInfo struct {
	Ready        bool  `json:"ready"`
	ReadyAfterMS int64 `json:"ready_after_ms"`
	Probe        struct {
		DurationMS int64 `json:"duration_ms"`
	} `json:"probe"`
	Interfaces []struct {
		Name  string `json:"name"`
		IP    string `json:"ip"`
		TCP   natResult
		Reach struct {
			State     string    `json:"state"`
			Port      int       `json:"port"`
			CheckedAt time.Time `json:"checked_at"`
			Reason    string    `json:"reason"`
			Checks    []struct {
				Server    string `json:"server"`
				Dialed    string `json:"dialed"`
				Outcome   string `json:"outcome"`
				ConnectMS int64  `json:"connect_ms"`
				Accepted  bool   `json:"accepted"`
				Error     string `json:"error"`
			} `json:"checks"`
		} `json:"reach"`
	} `json:"interfaces"`
}

// TestReachability runs real reachd nodes behind a port-forwarding router,
// an easy NAT and on a public LAN, with the lab rendezvous as STUN server
// (which offers dial-back), and checks what each reports: the forwarded
// node is reachable and open in its address (STUN alone calls it a
// port-restricted cone), the node behind the easy NAT is not reachable
// and stays a cone, the public one is reachable and open. A peer behind
// another easy NAT then reaches the forwarded node by direct, first.
//
// The lab's public routers do not filter their LAN, so a filtered host
// without NAT cannot be built here yet (IPv4 or IPv6): ApplyReach's unit
// tests and TestProbeReach (a closed loopback port) cover that verdict.
func TestReachability(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)

	fwd := lab.AddRouter(natlab.Forwarded)
	fwdHost := fwd.AddHost()
	fwd.Forward(fwdHost, labPort)
	easy := lab.AddRouter(natlab.Easy).AddHost()
	public := lab.AddRouter(natlab.Public).AddHost()
	peer := lab.AddRouter(natlab.Easy).AddHost()
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"forwarded": fwdHost, "easy": easy, "public": public, "peer": peer,
	})

	for _, tt := range []struct {
		name    string
		state   string
		outcome string // of the one dial-back check
		nat     address.NATType
	}{
		{"forwarded", "reachable", "answered", address.NATOpen},
		{"public", "reachable", "answered", address.NATOpen},
		{"easy", "unreachable", "timeout", address.NATPortRestrictedCone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := nodes[tt.name]
			var info reachInfo
			if status, err := n.api.getJSON("/v1/node", &info); err != nil || status != http.StatusOK {
				t.Fatalf("GET /v1/node: %d %v", status, err)
			}
			t.Logf("%s: ready after %d ms, probe took %d ms, address %s", tt.name, info.ReadyAfterMS, info.Probe.DurationMS, n.info.Address)
			checked := 0
			for _, ifc := range info.Interfaces {
				r := ifc.Reach
				if n.host.IP().String() != ifc.IP {
					if r.State != "unknown" || r.Reason == "" {
						t.Errorf("interface %s %s: reach %+v, want unknown with a reason (no stun server for it)", ifc.Name, ifc.IP, r)
					}
					continue
				}
				checked++
				t.Logf("%s %s: reach %+v, tcp %s (notes in the API)", ifc.Name, ifc.IP, r, ifc.TCP.NAT)
				if r.State != tt.state || r.Port != labPort || r.CheckedAt.IsZero() {
					t.Errorf("reach %+v, want %s on port %d with a time", r, tt.state, labPort)
				}
				if len(r.Checks) != 1 || r.Checks[0].Outcome != tt.outcome || r.Checks[0].Accepted != (tt.state == "reachable") {
					t.Errorf("checks %+v, want one %s", r.Checks, tt.outcome)
				}
				if ifc.TCP.NAT != tt.nat.String() {
					t.Errorf("tcp NAT %s, want %s", ifc.TCP.NAT, tt.nat)
				}
			}
			if checked != 1 {
				t.Fatalf("interfaces %+v: want the lab interface %v", info.Interfaces, n.host.IP())
			}
			a, err := address.Parse(n.info.Address)
			if err != nil || len(a.IPv4) != 1 {
				t.Fatalf("address %q (%v): want one IPv4 interface", n.info.Address, err)
			}
			if a.IPv4[0].NAT != tt.nat {
				t.Errorf("address NAT %s, want %s", a.IPv4[0].NAT, tt.nat)
			}
		})
	}

	t.Run("peer reaches the forwarded node by direct first", func(t *testing.T) {
		status, c := connect(t, nodes["peer"], nodes["forwarded"])
		if status != http.StatusCreated {
			t.Fatalf("connect: %d %s", status, c.Detail)
		}
		defer nodes["peer"].close(t, c.ID)
		t.Logf("attempts: %+v", c.Attempts)
		if c.Strategy != "direct" {
			t.Errorf("strategy %q, want direct", c.Strategy)
		}
		// Direct starts at once and wins; the others start later, if at
		// all, and are cancelled or skipped.
		for _, a := range c.Attempts {
			switch {
			case a.Name == "direct" && (a.Outcome != "ok" || a.StartedMS != 0):
				t.Errorf("direct attempt %+v, want ok, started first", a)
			case a.Name != "direct" && a.Outcome != "cancelled" && a.Outcome != "skipped":
				t.Errorf("attempt %+v, want cancelled or skipped: direct won", a)
			}
		}
	})
}
