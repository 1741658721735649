package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/internal/natlab"
)

// startRendezvous6 runs a second rendezvous on the WAN's IPv6 addresses:
// the broker and STUN (with its dial-back) for IPv6 hosts. (One rendezvous
// answers STUN on one family.)
func startRendezvous6(t testing.TB, lab *natlab.Lab) wanServices {
	t.Helper()
	w := lab.WANAddrs6()
	at := func(i, port int) string { return net.JoinHostPort(w[i].String(), fmt.Sprint(port)) }
	p := lab.WAN().Start(t, reachdBin, "rendezvous",
		"--mqtt-listen", at(0, 1883),
		"--stun-listen", at(0, 3478)+","+at(1, 3479),
		"--turn-listen", at(0, 3480),
		"--turn-user", "lab:labpass",
		"--public-ip", w[0].String())
	waitFor(t, "IPv6 rendezvous up", p, 15*time.Second, func() (bool, error) {
		err := lab.WAN().Do(func() error {
			c, err := net.DialTimeout("tcp", at(0, 1883), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		return err == nil, err
	})
	return wanServices{MQTT: "mqtt://" + at(0, 1883), STUN: at(0, 3478), TURN: "turn://lab:labpass@" + at(0, 3480), proc: p}
}

// TestIPv6 is issue 13's IPv6 lab: home routers that route IPv6 without
// translation and filter it statefully, IPv6-only and dual-stack hosts.
// The probe and its dial-back report a firewalled IPv6 interface as
// filtered (port-restricted, delta equal), not open; two firewalled
// IPv6-only hosts punch; two dual-stack hosts behind symmetric IPv4 NATs
// punch over IPv6 instead of relaying; a public host reaches a firewalled
// IPv6 host by reverse.
func TestIPv6(t *testing.T) {
	lab := natlab.New(t, natlab.WithIPv6())
	lab.StartNTP(t)
	wan4 := startRendezvous(t, lab)
	wan6 := startRendezvous6(t, lab)
	hosts := map[string]*natlab.Host{
		"v6-a": lab.AddRouter(natlab.Easy).AddHost(natlab.V6Only()),
		"v6-b": lab.AddRouter(natlab.Easy).AddHost(natlab.V6Only()),
		"ds-a": lab.AddRouter(natlab.Hard).AddHost(),
		"ds-b": lab.AddRouter(natlab.Hard).AddHost(),
		"pub":  lab.AddRouter(natlab.Public).AddHost(),
	}
	// Everyone signals through the IPv6 broker (dual-stack hosts reach it
	// too) and probes with both families' STUN servers.
	svc := wanServices{MQTT: wan6.MQTT, STUN: wan4.STUN + "," + wan6.STUN, TURN: wan4.TURN}
	ntp := net.JoinHostPort(lab.WANAddrs6()[0].String(), "123")
	nodes := startLabNodes(t, svc, ntp, hosts)

	t.Run("firewalled IPv6 is filtered, not open", func(t *testing.T) {
		for _, name := range []string{"v6-a", "ds-a"} {
			a, err := address.Parse(nodes[name].info.Address)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.IPv6) == 0 {
				t.Fatalf("%s: no IPv6 interface in %s", name, nodes[name].info.Address)
			}
			if it := a.IPv6[0]; it.NAT != address.NATPortRestrictedCone || it.Delta != address.DeltaEqual || it.ExternalIP != hosts[name].IP6() {
				t.Errorf("%s: IPv6 interface %+v, want port-restricted (5), delta equal (2), external %s", name, it, hosts[name].IP6())
			}
			// Its UDP result is not open either (issue 23).
			found := false
			for _, ifc := range nodes[name].info.Interfaces {
				if ifc.IP != hosts[name].IP6() {
					continue
				}
				found = true
				if ifc.UDP.NAT == "open" || ifc.UDP.NAT == "" {
					t.Errorf("%s: IPv6 interface's udp %+v, want filtered, not open", name, ifc.UDP)
				}
			}
			if !found {
				t.Errorf("%s: no interface %s in %+v", name, hosts[name].IP6(), nodes[name].info.Interfaces)
			}
		}
		a, _ := address.Parse(nodes["pub"].info.Address)
		if len(a.IPv6) == 0 || a.IPv6[0].NAT != address.NATOpen {
			t.Errorf("public host's IPv6: %+v, want open", a.IPv6)
		}
	})
	for _, tt := range []struct {
		name, from, to, want string
		strategies           []string
	}{
		{"IPv6-only firewalled hosts punch", "v6-a", "v6-b", "punch", []string{"punch"}},
		{"IPv6-only firewalled hosts race to punch", "v6-a", "v6-b", "punch", nil},
		{"dual-stack behind hard IPv4 NATs punch over IPv6", "ds-a", "ds-b", "punch", nil},
		{"a public host reaches a firewalled IPv6 host by reverse", "pub", "v6-a", "reverse", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			from, to := nodes[tt.from], nodes[tt.to]
			status, c := connect(t, from, to, tt.strategies...)
			if status != http.StatusCreated || c.Strategy != tt.want {
				t.Fatalf("status %d, strategy %q, want %s: %s %s", status, c.Strategy, tt.want, c.Detail, raceSummary(c))
			}
			if !strings.HasPrefix(c.RemoteAddr, "[") {
				t.Errorf("remote address %s, want IPv6", c.RemoteAddr)
			}
			t.Logf("%s -> %s: %s to %s; %s", tt.from, tt.to, c.Strategy, c.RemoteAddr, raceSummary(c))
			from.close(t, c.ID)
		})
	}
}

// TestIPv6Relay: two IPv6-only hosts relay through the IPv6 TURN address,
// though the IPv4 one is listed first.
func TestIPv6Relay(t *testing.T) {
	lab := natlab.New(t, natlab.WithIPv6())
	lab.StartNTP(t)
	wan4 := startRendezvous(t, lab)
	wan6 := startRendezvous6(t, lab)
	hosts := map[string]*natlab.Host{
		"a": lab.AddRouter(natlab.Hard).AddHost(natlab.V6Only()),
		"b": lab.AddRouter(natlab.Hard).AddHost(natlab.V6Only()),
	}
	svc := wanServices{MQTT: wan6.MQTT, STUN: wan6.STUN, TURN: wan4.TURN + "," + wan6.TURN}
	nodes := startLabNodes(t, svc, net.JoinHostPort(lab.WANAddrs6()[0].String(), "123"), hosts)
	status, c := connect(t, nodes["a"], nodes["b"], "relay")
	if status != http.StatusCreated || c.Strategy != "relay" {
		t.Fatalf("status %d, strategy %q: %s %s", status, c.Strategy, c.Detail, raceSummary(c))
	}
	if !strings.HasPrefix(c.RemoteAddr, "[") {
		t.Errorf("relayed over %s, want an IPv6 path", c.RemoteAddr)
	}
	nodes["a"].close(t, c.ID)
}
