package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
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
// TestReachabilityFirewalled covers a filtered host without NAT.
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
		// Direct starts with the first and wins; the others are
		// cancelled or skipped.
		var direct int64 = -1
		first := int64(1 << 62)
		for _, a := range c.Attempts {
			switch {
			case a.Name == "direct" && a.Outcome != "ok":
				t.Errorf("direct attempt %+v, want ok", a)
			case a.Name == "direct":
				direct = a.StartedMS
			case a.Outcome != "cancelled" && a.Outcome != "skipped":
				t.Errorf("attempt %+v, want cancelled or skipped: direct won", a)
			case a.Outcome == "cancelled":
				first = min(first, a.StartedMS)
			}
		}
		// The attempts start at once, each on its own goroutine: a
		// loaded machine may start direct's a few ms after another's. A
		// head start (FallbackHeadStart) is far longer.
		const jitter = 10
		if direct > first+jitter {
			t.Errorf("direct started at %d ms, after another strategy (%d ms)", direct, first)
		}
	})
}

// firewall makes r, a Public router, a stateful firewall for h: new
// connections from outside to h are dropped, answers pass. (The lab's
// public routers do not filter their LAN; natlab has no option for this
// yet, so the test loads its own nftables table next to the router's.)
func firewall(t *testing.T, r *natlab.Router, h *natlab.Host) {
	t.Helper()
	rules := fmt.Sprintf(`table ip reachfw {
	chain forward {
		type filter hook forward priority filter - 1; policy accept;
		ct state established,related accept
		ip daddr %s ct state new drop
	}
}
`, h.IP())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := r.Host().Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("load firewall for %v: %v: %s", h.IP(), err, out)
	}
}

// TestReachabilityFirewalled runs a reachd node on a public IPv4 address
// behind a stateful firewall (no NAT): STUN sees no translation ("open"),
// the dial-back times out, and the node reports the interface unreachable
// and as a port-restricted cone with delta equal, so peers punch rather
// than wait on a direct dial the firewall drops. A peer behind an easy NAT
// then connects to it.
func TestReachabilityFirewalled(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)

	fw := lab.AddRouter(natlab.Public)
	host := fw.AddHost()
	firewall(t, fw, host)
	peer := lab.AddRouter(natlab.Easy).AddHost()
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{"firewalled": host, "peer": peer})

	n := nodes["firewalled"]
	var info reachInfo
	if status, err := n.api.getJSON("/v1/node", &info); err != nil || status != http.StatusOK {
		t.Fatalf("GET /v1/node: %d %v", status, err)
	}
	t.Logf("ready after %d ms, address %s", info.ReadyAfterMS, n.info.Address)
	found := false
	for _, ifc := range info.Interfaces {
		if ifc.IP != host.IP().String() {
			continue
		}
		found = true
		t.Logf("reach %+v, tcp %+v", ifc.Reach, ifc.TCP)
		if ifc.Reach.State != "unreachable" || len(ifc.Reach.Checks) != 1 || ifc.Reach.Checks[0].Outcome != "timeout" {
			t.Errorf("reach %+v, want unreachable after one timed-out dial-back", ifc.Reach)
		}
		if ifc.TCP.NAT != "port_restricted_cone" || ifc.TCP.Delta != "equal" || ifc.TCP.ExternalIP != host.IP() {
			t.Errorf("tcp %+v, want port_restricted_cone, delta equal, external IP %v", ifc.TCP, host.IP())
		}
	}
	if !found {
		t.Fatalf("interfaces %+v: no %v", info.Interfaces, host.IP())
	}
	a, err := address.Parse(n.info.Address)
	if err != nil || len(a.IPv4) != 1 {
		t.Fatalf("address %q (%v): want one IPv4 interface", n.info.Address, err)
	}
	if it := a.IPv4[0]; it.NAT != address.NATPortRestrictedCone || it.Delta != address.DeltaEqual || it.ExternalIP != host.IP() {
		t.Errorf("address item %+v, want port-restricted cone, delta equal, external %v", it, host.IP())
	}

	status, c := connect(t, nodes["peer"], n)
	if status != http.StatusCreated {
		t.Fatalf("connect: %d %s", status, c.Detail)
	}
	defer nodes["peer"].close(t, c.ID)
	t.Logf("connected by %s; attempts: %+v", c.Strategy, c.Attempts)
	if c.Strategy != "punch" {
		t.Errorf("strategy %q, want punch: the firewall drops a direct dial", c.Strategy)
	}
}
