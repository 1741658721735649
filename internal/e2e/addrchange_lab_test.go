package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/internal/natlab"
)

// externalIP is the external IP of the first IPv4 interface of a peer
// address.
func externalIP(t testing.TB, addr string) netip.Addr {
	t.Helper()
	a, err := address.Parse(addr)
	if err != nil || len(a.IPv4) == 0 {
		t.Fatalf("address %q (%v): want an IPv4 interface", addr, err)
	}
	return a.IPv4[0].ExternalIP
}

// addressEvent is the payload of an "address" event.
type addressEvent struct {
	Address  string   `json:"address"`
	Previous string   `json:"previous"`
	Trigger  string   `json:"trigger"`
	Moved    []string `json:"moved"`
}

// addressEvents reads the "address" events n keeps (GET /v1/events from
// the first it has), for up to a second.
func (n *labNode) addressEvents(t testing.TB) []addressEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", n.api.base+"/v1/events?last_event_id=0", nil)
	resp, err := n.api.http.Do(req)
	if err != nil {
		t.Fatalf("%s: events: %v", n.name, err)
	}
	defer resp.Body.Close()
	var out []addressEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	isAddress := false
	for sc.Scan() { // until the deadline ends the stream
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			isAddress = line == "event: address"
		case strings.HasPrefix(line, "data: ") && isAddress:
			var ev struct {
				Address addressEvent `json:"address"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				t.Fatalf("%s: address event %q: %v", n.name, line, err)
			}
			out = append(out, ev.Address)
		}
	}
	return out
}

// TestAddressChange is issue 23's WAN address change: the router of a node
// behind an easy NAT moves to a new WAN address while nothing flows. The
// node notices by itself (its external address watch), advertises the new
// address in GET /v1/node and an address event, and a new connect from a
// peer behind another easy NAT, to that address, wins by punch, not by the
// relay (the node's brokers reconnected from the new address; its old TURN
// permissions and mappings are gone).
func TestAddressChange(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	rx := lab.AddRouter(natlab.Easy)
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"x": rx.AddHost(), "peer": lab.AddRouter(natlab.Easy).AddHost(),
	})
	x, peer := nodes["x"], nodes["peer"]
	if got := externalIP(t, x.info.Address); got != rx.WANIP() {
		t.Fatalf("x's external IP %v, want its router's %v", got, rx.WANIP())
	}

	ip, err := rx.ChangeWANIP()
	if err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	var info nodeInfo
	waitFor(t, "x advertises its new external IP", x.proc, 15*time.Second, func() (bool, error) {
		info = nodeInfo{}
		_, err := x.api.getJSON("/v1/node", &info)
		return err == nil && info.Address != "" && externalIP(t, info.Address) == ip, err
	})
	t.Logf("x advertised %v %v after its router's WAN address changed (load: %s)", ip, time.Since(changed).Round(10*time.Millisecond), loadAvg())
	evs := x.addressEvents(t)
	if len(evs) != 1 || externalIP(t, evs[0].Address) != ip || externalIP(t, evs[0].Previous) == ip ||
		!strings.Contains(evs[0].Trigger, "external address watch") || len(evs[0].Moved) != 1 {
		t.Errorf("address events %+v: want one, from the old external IP to %v, noticed by the external address watch, one interface moved", evs, ip)
	}

	x.info = info
	status, c := connect(t, peer, x)
	if status != http.StatusCreated {
		t.Fatalf("connect to x's new address: %d %s", status, c.Detail)
	}
	defer peer.close(t, c.ID)
	t.Logf("connected by %s; attempts %+v", c.Strategy, c.Attempts)
	if c.Strategy != "punch" {
		t.Errorf("strategy %q, want punch: both are easy NATs, and x advertises its new address", c.Strategy)
	}
}

// TestAddressChangeLocal: a new local interface (netlink tells the node)
// makes the node probe at once and advertise an address with it.
func TestAddressChangeLocal(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	h := lab.AddRouter(natlab.Easy).AddHost()
	n := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{"n": h})["n"]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, args := range [][]string{
		{"link", "add", "extra0", "type", "veth", "peer", "name", "extra1"},
		{"addr", "add", "192.0.2.5/24", "dev", "extra0"},
		{"link", "set", "extra1", "up"},
		{"link", "set", "extra0", "up"},
	} {
		if out, err := h.Command(ctx, "ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	var evs []addressEvent
	waitFor(t, "an address event", n.proc, 10*time.Second, func() (bool, error) {
		evs = n.addressEvents(t)
		return len(evs) > 0, nil
	})
	a, err := address.Parse(evs[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(evs[0].Trigger, "local address") || !slices.ContainsFunc(a.IPv4, func(it address.Interface) bool {
		return it.InternalIP == netip.MustParseAddr("192.0.2.5")
	}) {
		t.Errorf("address event %+v: want one noticed by a local address change, with 192.0.2.5", evs[0])
	}
}

// bookPeer is an address book entry of GET /v1/peers.
type bookPeer struct {
	Name    string `json:"name"`
	NodeID  string `json:"node_id"`
	Address string `json:"address"`
}

// TestBookFollowsAddressChange is issue 21's: a names b in its address book
// and connects by the name; b's router then changes its WAN address. b
// tells a its new address over their link, a's book keeps it, and a new
// connect by the name (a fresh race, not the live link) succeeds.
func TestBookFollowsAddressChange(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	rb := lab.AddRouter(natlab.Easy)
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"a": lab.AddRouter(natlab.Easy).AddHost(), "b": rb.AddHost(),
	})
	a, b := nodes["a"], nodes["b"]
	body, _ := json.Marshal(map[string]string{"address": b.info.Address})
	if status, err := a.api.do("PUT", "/v1/peers/bee", string(body), nil); err != nil || status != http.StatusCreated {
		t.Fatalf("PUT /v1/peers/bee: %d %v", status, err)
	}
	byName := func(fresh bool) (int, connection) {
		var c connection
		status, err := a.api.do("POST", "/v1/connections", fmt.Sprintf(`{"address": "bee", "fresh": %v}`, fresh), &c)
		if err != nil {
			t.Fatal(err)
		}
		return status, c
	}
	status, first := byName(false)
	if status != http.StatusCreated {
		t.Fatalf("connect to bee: %d %s", status, first.Detail)
	}
	defer a.close(t, first.ID)

	before := len(a.conn(t, first.ID).Paths)
	ip, err := rb.ChangeWANIP()
	if err != nil {
		t.Fatal(err)
	}
	// b drops its path from the old address and tells a, which drops its
	// own: the link takes a new path at once, not after its pings went
	// unanswered for 10 s.
	waitFor(t, "the link moves to a new path", a.proc, 9*time.Second, func() (bool, error) {
		c := a.conn(t, first.ID)
		return len(c.Paths) > before && c.Paths[len(c.Paths)-1].Until.IsZero(), nil
	})
	hist, gap := gaps(a.conn(t, first.ID).Paths[before-1:])
	t.Logf("paths since the change: %s; time without a path: %v", hist, gap)
	// b tells a at once; without that a would learn it only on resuming
	// the link, after the path's pings went unanswered for 10 s.
	waitFor(t, "a's address book has b's new address", a.proc, 9*time.Second, func() (bool, error) {
		var list struct {
			Peers []bookPeer `json:"peers"`
		}
		_, err := a.api.do("GET", "/v1/peers", "", &list)
		return err == nil && len(list.Peers) == 1 && list.Peers[0].Address != "" && externalIP(t, list.Peers[0].Address) == ip, err
	})
	status, c := byName(true)
	if status != http.StatusCreated {
		t.Fatalf("connect to bee after its address changed: %d %s", status, c.Detail)
	}
	defer a.close(t, c.ID)
	t.Logf("connected to bee by %s after its WAN address became %v", c.Strategy, ip)
	if c.Strategy != "punch" {
		t.Errorf("strategy %q, want punch to b's new address", c.Strategy)
	}
}

// dialBackOnly is the WAN address the rendezvous dials back from in
// TestReachabilityRestrictedCone: one that no node ever contacts.
var dialBackOnly = netip.MustParseAddr("203.0.113.3")

// TestReachabilityRestrictedCone: a node whose listen port is forwarded by
// a restricted-cone router (it admits only the addresses the node sent
// to) is not reported open when the rendezvous dials back from an address
// the node never contacted (--dialback-from): the dial-back is dropped,
// and the node reports the interface unreachable and a cone, so peers
// punch instead of dialing a port that would drop them.
func TestReachabilityRestrictedCone(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := lab.WAN().Command(ctx, "ip", "addr", "add", dialBackOnly.String()+"/24", "dev", "br0").CombinedOutput(); err != nil {
		t.Fatalf("add %v to the WAN: %v: %s", dialBackOnly, err, out)
	}
	wan := startRendezvous(t, lab, "--dialback-from", dialBackOnly.String())
	r := lab.AddRouter(natlab.RestrictedCone)
	h := r.AddHost()
	r.Forward(h, labPort)
	n := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{"cone": h})["cone"]

	var info reachInfo
	if status, err := n.api.getJSON("/v1/node", &info); err != nil || status != http.StatusOK {
		t.Fatalf("GET /v1/node: %d %v", status, err)
	}
	found := false
	for _, ifc := range info.Interfaces {
		if ifc.IP != h.IP().String() {
			continue
		}
		found = true
		t.Logf("reach %+v, tcp %+v", ifc.Reach, ifc.TCP)
		if ifc.Reach.State != "unreachable" {
			t.Errorf("reach %+v, want unreachable: the dial-back came from an address the node never contacted", ifc.Reach)
		}
		if ifc.TCP.NAT == "open" {
			t.Errorf("tcp NAT open, want a cone: only the hosts the node sent to get in")
		}
	}
	if !found {
		t.Fatalf("interfaces %+v: no %v", info.Interfaces, h.IP())
	}
	if a, err := address.Parse(n.info.Address); err != nil || len(a.IPv4) != 1 || a.IPv4[0].NAT == address.NATOpen {
		t.Errorf("address %q (%v): want one IPv4 interface, not open", n.info.Address, err)
	}
}

// loadAvg is the machine's 1-minute load average, to report next to a
// time measured.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}
