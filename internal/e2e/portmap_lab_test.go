package e2e

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/internal/natlab"
)

// portmapInfo is the part of GET /v1/node the port mapping tests read.
type portmapInfo struct {
	Address      string `json:"address"`
	ReadyAfterMS int64  `json:"ready_after_ms"`
	Interfaces   []struct {
		IP      netip.Addr `json:"ip"`
		Portmap *struct {
			Protocol  string    `json:"protocol"`
			External  string    `json:"external"`
			ExpiresAt time.Time `json:"expires_at"`
			Confirmed bool      `json:"confirmed"`
			Reason    string    `json:"reason"`
		} `json:"portmap"`
	} `json:"interfaces"`
}

// portmapLease is the lease the nodes of these tests ask: renewed every 3s.
const portmapLease = 6 * time.Second

// mappingOf returns the node's mapping on the interface of its lab host.
func mappingOf(t testing.TB, n *labNode) (portmapInfo, int) {
	t.Helper()
	var info portmapInfo
	if status, err := n.api.getJSON("/v1/node", &info); err != nil || status != http.StatusOK {
		t.Fatalf("GET /v1/node: %d %v", status, err)
	}
	for i, ifc := range info.Interfaces {
		if ifc.IP == n.host.IP() {
			return info, i
		}
	}
	t.Fatalf("interfaces %+v: none is the lab host's %s", info.Interfaces, n.host.IP())
	return info, -1
}

// waitMapped waits until the node reports a confirmed mapping by proto at
// the router's WAN address and the listen port (or, with other, another
// port), and returns the mapping's external address.
func waitMapped(t testing.TB, n *labNode, r *natlab.Router, proto string, other bool, timeout time.Duration) netip.AddrPort {
	t.Helper()
	var ext netip.AddrPort
	waitFor(t, "mapping confirmed", n.proc, timeout, func() (bool, error) {
		info, i := mappingOf(t, n)
		pm := info.Interfaces[i].Portmap
		if pm == nil || !pm.Confirmed || pm.Protocol != proto {
			return false, fmt.Errorf("portmap %+v, want %s confirmed", pm, proto)
		}
		var err error
		if ext, err = netip.ParseAddrPort(pm.External); err != nil || ext.Addr() != r.WANIP() || (ext.Port() == labPort) == other {
			return false, fmt.Errorf("portmap %+v, want %s at %s (another port than %d: %v)", pm, proto, r.WANIP(), labPort, other)
		}
		return true, nil
	})
	return ext
}

// routerMaps tells whether miniupnpd's DNAT rule for host's listen port
// is in the router's ruleset.
func routerMaps(t testing.TB, r *natlab.Router, h *natlab.Host) bool {
	t.Helper()
	out, err := r.Host().Command(t.Context(), "nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	return strings.Contains(string(out), fmt.Sprintf("%s:%d", h.IP(), labPort))
}

// TestPortMap runs a node behind a router with miniupnpd serving one
// protocol at a time (PCP, NAT-PMP, UPnP IGD): the node maps its listen
// port, the rendezvous's dial-back confirms the mapping, the address
// carries it as open, and a peer behind a hard NAT (which would relay
// otherwise) connects by direct. With PCP, miniupnpd then restarts and
// loses the mapping: the node maps again within one renewal, and a fresh
// connect is direct again.
func TestPortMap(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	stun := netip.AddrPortFrom(lab.WANAddrs()[0], 3478)
	for _, tt := range []struct {
		name    string
		proto   natlab.MapProtocol
		restart bool // the router restarts
		second  bool // a second node with the same port
	}{
		{"pcp", natlab.PCP, true, false},
		{"nat-pmp", natlab.NATPMP, false, true},
		{"upnp", natlab.IGD, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := lab.AddRouter(natlab.Easy, natlab.UPnP(stun, tt.proto))
			h := r.AddHost()
			hard := lab.AddRouter(natlab.Hard).AddHost()
			start := time.Now()
			nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{"mapped": h, "hard": hard},
				"--portmap-lease", portmapLease.String())
			n := nodes["mapped"]
			waitMapped(t, n, r, tt.name, false, 15*time.Second)
			t.Logf("%s: mapped and confirmed %v after the start (ready after %d ms)", tt.name, time.Since(start).Round(10*time.Millisecond), n.info.ReadyAfterMS)
			if !routerMaps(t, r, h) {
				t.Errorf("router ruleset has no mapping to %s:%d", h.IP(), labPort)
			}
			info, _ := mappingOf(t, n)
			a, err := address.Parse(info.Address)
			if err != nil || len(a.IPv4) != 1 || a.IPv4[0].NAT != address.NATOpen || a.IPv4[0].ExternalIP != r.WANIP() {
				t.Fatalf("address %q (%v): want one IPv4 interface, open at %s", info.Address, err, r.WANIP())
			}
			n.info.Address = info.Address // the peer connects to the address with the mapping
			direct := func(what string, n *labNode) {
				t.Helper()
				status, c := connectFresh(t, nodes["hard"], n)
				if status != http.StatusCreated {
					t.Fatalf("%s: connect: %d %s", what, status, c.Detail)
				}
				nodes["hard"].close(t, c.ID)
				if c.Strategy != "direct" {
					t.Errorf("%s: strategy %q, want direct (attempts %+v)", what, c.Strategy, c.Attempts)
				}
			}
			direct("hard peer to the mapped node", n)
			if tt.second {
				// A second node behind the router with the same listen
				// port: the gateway maps another external port, which the
				// address carries as an interface of its own.
				h2 := r.AddHost()
				n2 := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{"second": h2},
					"--portmap-lease", portmapLease.String())["second"]
				ext := waitMapped(t, n2, r, tt.name, true, 15*time.Second)
				info, _ := mappingOf(t, n2)
				a, err := address.Parse(info.Address)
				if err != nil || len(a.IPv4) != 2 || a.IPv4[1].NAT != address.NATOpen || a.IPv4[1].ExternalIP != ext.Addr() || a.IPv4[1].ListenPort != ext.Port() {
					t.Fatalf("address %q (%v): want the mapping %s as a second, open IPv4 interface", info.Address, err, ext)
				}
				if a.IPv4[0].NAT != address.NATBlocked {
					t.Errorf("address %q: the interface itself is %s, want blocked (its external IP at port %d is the first node's mapping)", info.Address, a.IPv4[0].NAT, labPort)
				}
				n2.info.Address = info.Address
				direct("hard peer to the second node, on another port", n2)
			}
			if !tt.restart {
				return
			}

			// The router restarts: its mappings are gone until the node
			// renews, at half its lease.
			if err := r.StopUPnP(); err != nil {
				t.Fatal(err)
			}
			if err := r.StartUPnP(); err != nil {
				t.Fatal(err)
			}
			restarted := time.Now()
			if routerMaps(t, r, h) {
				t.Fatal("router kept the mapping over a restart")
			}
			waitFor(t, "mapped again", n.proc, portmapLease/2+5*time.Second, func() (bool, error) {
				return routerMaps(t, r, h), nil
			})
			t.Logf("mapped again %v after the restart (renewal every %v)", time.Since(restarted).Round(10*time.Millisecond), portmapLease/2)
			waitMapped(t, n, r, tt.name, false, 5*time.Second)
			direct("after the router restarted", n)
		})
	}
}

// TestPortMapNoService: behind a router whose miniupnpd is stopped, the
// node is ready as soon as without port mapping and reports no mapping.
func TestPortMapNoService(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	r := lab.AddRouter(natlab.Easy, natlab.UPnP(netip.AddrPortFrom(lab.WANAddrs()[0], 3478), natlab.PCP, natlab.NATPMP, natlab.IGD))
	if err := r.StopUPnP(); err != nil {
		t.Fatal(err)
	}
	off := lab.AddRouter(natlab.Easy).AddHost()
	h := r.AddHost()
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{"mapper": h})
	plain := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{"off": off}, "--portmap=false")
	n := nodes["mapper"]
	waitFor(t, "port mapping probes ended", n.proc, 15*time.Second, func() (bool, error) {
		return strings.Contains(n.proc.Output(), "no port mapping protocol at the gateway"), nil
	})
	info, i := mappingOf(t, n)
	if pm := info.Interfaces[i].Portmap; pm != nil {
		t.Errorf("portmap %+v, want none", pm)
	}
	t.Logf("ready after %d ms; with --portmap=false %d ms", n.info.ReadyAfterMS, plain["off"].info.ReadyAfterMS)
}
