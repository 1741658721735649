package e2e

import (
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/internal/natlab"
)

// nodeInfo is the part of GET /v1/node these tests check, decoded from the
// wire names of the API.
type nodeInfo struct {
	NodeID       string `json:"node_id"`
	Address      string `json:"address"`
	Ready        bool   `json:"ready"`
	ListenPort   int    `json:"listen_port"`
	ReadyAfterMS int64  `json:"ready_after_ms"`
	Interfaces   []struct {
		Name string     `json:"name"`
		IP   netip.Addr `json:"ip"`
		UDP  natResult  `json:"udp"`
		TCP  natResult  `json:"tcp"`
	} `json:"interfaces"`
	Clock struct {
		OffsetMS float64 `json:"offset_ms"`
		Answered int     `json:"answered"`
		Error    string  `json:"error"`
	} `json:"clock"`
}

type natResult struct {
	NAT        string     `json:"nat"`
	Delta      string     `json:"delta"`
	DeltaValue int        `json:"delta_value"`
	ExternalIP netip.Addr `json:"external_ip"`
	Reason     string     `json:"reason"`
}

// waitReady polls GET /v1/node until the node says it is ready.
func waitReady(t testing.TB, c *apiClient, p *natlab.Process) nodeInfo {
	t.Helper()
	var info nodeInfo
	waitFor(t, "node ready", p, 30*time.Second, func() (bool, error) {
		info = nodeInfo{}
		status, err := c.getJSON("/v1/node", &info)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("status %d", status)
		}
		return err == nil && info.Ready, err
	})
	return info
}

// TestNodeBehindEachNAT runs a real reachd behind every NAT kind of the lab
// and checks that GET /v1/node reports the NAT that kind really has, the
// router's WAN IP as external IP, and an address that parses back to the
// same values.
func TestNodeBehindEachNAT(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	const port = 40000

	type expect struct {
		kind  natlab.Kind
		nats  []string // acceptable TCP NAT types
		delta []string // acceptable TCP delta types
		udp   []string // acceptable UDP NAT types
	}
	cases := []expect{
		{natlab.Public, []string{"open"}, []string{"equal", "na"}, []string{"open"}},
		{natlab.Forwarded, []string{"open"}, []string{"equal", "preserving"}, []string{"port_restricted_cone"}}, // the dial-back reaches the forward
		{natlab.Easy, []string{"port_restricted_cone", "full_cone", "restricted_cone"}, []string{"equal", "preserving"}, []string{"port_restricted_cone"}},
		{natlab.Hard, []string{"symmetric"}, []string{"random"}, []string{"symmetric"}},
	}
	type running struct {
		expect
		host   *natlab.Host
		router *natlab.Router
		proc   *natlab.Process
		api    *apiClient
	}
	var nodes []running
	for _, c := range cases {
		r := lab.AddRouter(c.kind)
		h := r.AddHost()
		if c.kind == natlab.Forwarded {
			r.Forward(h, port)
		}
		args := wan.nodeArgs(t.TempDir(), ntp.Addr().String(), port)
		p := h.Start(t, reachdBin, args...)
		nodes = append(nodes, running{c, h, r, p, newAPIClient(t, h, "127.0.0.1:12333")})
	}
	for _, n := range nodes {
		t.Run(n.kind.String(), func(t *testing.T) {
			info := waitReady(t, n.api, n.proc)
			t.Logf("%s: ready after %d ms, address %s", n.kind, info.ReadyAfterMS, info.Address)
			// The lab interface has its IPv4 address and an IPv6 link-local
			// one, which no STUN server can reach.
			var v4 []int
			for i, ifc := range info.Interfaces {
				if ifc.IP.Is4() {
					v4 = append(v4, i)
				} else if !ifc.IP.IsLinkLocalUnicast() || ifc.TCP.NAT != "unknown" || ifc.TCP.Reason == "" {
					t.Errorf("IPv6 interface %+v: want link-local with NAT unknown and a reason", ifc)
				}
			}
			if len(v4) != 1 {
				t.Fatalf("interfaces = %+v, want one IPv4 interface", info.Interfaces)
			}
			ifc := info.Interfaces[v4[0]]
			if ifc.IP != n.host.IP() {
				t.Errorf("interface IP %v, want %v", ifc.IP, n.host.IP())
			}
			wantExt := n.router.WANIP()
			if n.kind == natlab.Public {
				wantExt = n.host.IP()
			}
			for proto, r := range map[string]natResult{"tcp": ifc.TCP, "udp": ifc.UDP} {
				if r.ExternalIP != wantExt {
					t.Errorf("%s external IP %v, want %v (reason %q)", proto, r.ExternalIP, wantExt, r.Reason)
				}
			}
			if !contains(n.nats, ifc.TCP.NAT) {
				t.Errorf("tcp NAT %q, want one of %v (reason %q)", ifc.TCP.NAT, n.nats, ifc.TCP.Reason)
			}
			if !contains(n.delta, ifc.TCP.Delta) {
				t.Errorf("tcp delta %q, want one of %v", ifc.TCP.Delta, n.delta)
			}
			if !contains(n.udp, ifc.UDP.NAT) {
				t.Errorf("udp NAT %q, want one of %v (reason %q)", ifc.UDP.NAT, n.udp, ifc.UDP.Reason)
			}
			if info.Clock.Answered != 1 || info.Clock.Error != "" {
				t.Errorf("clock: %+v, want one NTP answer", info.Clock)
			}

			a, err := address.Parse(info.Address)
			if err != nil {
				t.Fatalf("address %q: %v", info.Address, err)
			}
			if a.String() != info.Address {
				t.Errorf("address re-encodes to %q", a.String())
			}
			if a.NodeID != info.NodeID || len(a.IPv4) != 1 {
				t.Fatalf("address %+v does not match node %s with one IPv4 interface", a, info.NodeID)
			}
			for _, it := range a.IPv6 {
				if it.NAT != address.NATBlocked || !it.InternalIP.IsLinkLocalUnicast() {
					t.Errorf("IPv6 address item %+v: want the link-local interface, listed as blocked", it)
				}
			}
			item := a.IPv4[0]
			if item.ExternalIP != wantExt || item.InternalIP != n.host.IP() || item.ListenPort != port ||
				item.NAT.String() != ifc.TCP.NAT || item.Delta.String() != ifc.TCP.Delta || item.DeltaValue != ifc.TCP.DeltaValue {
				t.Errorf("address item %+v does not carry the TCP result %+v, internal %v, port %d", item, ifc.TCP, n.host.IP(), port)
			}
		})
	}
}
