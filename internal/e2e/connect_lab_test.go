package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/reachd/reachd/internal/natlab"
)

var labKinds = []natlab.Kind{natlab.Public, natlab.Forwarded, natlab.Easy, natlab.Hard}

// winner is the strategy expected to win, with all strategies enabled in
// the default order, from an initiator behind one kind to a target behind
// another: a target anyone can dial is reached directly; a target behind a
// NAT dials back an initiator anyone can dial; two cone NATs punch; a
// symmetric NAT facing anything but an open host needs the relay.
var winner = map[[2]natlab.Kind]string{
	{natlab.Public, natlab.Public}: "direct", {natlab.Public, natlab.Forwarded}: "direct",
	{natlab.Public, natlab.Easy}: "reverse", {natlab.Public, natlab.Hard}: "reverse",
	{natlab.Forwarded, natlab.Public}: "direct", {natlab.Forwarded, natlab.Forwarded}: "direct",
	{natlab.Forwarded, natlab.Easy}: "reverse", {natlab.Forwarded, natlab.Hard}: "reverse",
	{natlab.Easy, natlab.Public}: "direct", {natlab.Easy, natlab.Forwarded}: "direct",
	{natlab.Easy, natlab.Easy}: "punch", {natlab.Easy, natlab.Hard}: "relay",
	{natlab.Hard, natlab.Public}: "direct", {natlab.Hard, natlab.Forwarded}: "direct",
	{natlab.Hard, natlab.Easy}: "relay", {natlab.Hard, natlab.Hard}: "relay",
}

// works says whether one strategy alone connects initiator to target.
func works(strategy string, from, to natlab.Kind) bool {
	dialable := func(k natlab.Kind) bool { return k == natlab.Public || k == natlab.Forwarded }
	switch strategy {
	case "direct":
		return dialable(to)
	case "reverse":
		return dialable(from)
	case "punch":
		// A symmetric NAT's port cannot be predicted: an open host, whose
		// punch listener takes the peer's connection from any port, meets
		// it, and so does an easy NAT's by a birthday punch; two hard NATs
		// cannot.
		if from == natlab.Hard || to == natlab.Hard {
			return from == natlab.Public || to == natlab.Public ||
				(from == natlab.Easy || to == natlab.Easy)
		}
		return true
	case "relay":
		return true
	}
	panic(strategy)
}

// labMatrix is a lab with two nodes behind routers of each kind (a and b,
// each behind its own router) and a second host on the first easy router's
// LAN ("easy-lan"). Every router is built with opts (a Link, say).
func labMatrix(t testing.TB, opts ...natlab.RouterOption) (map[string]*labNode, *natlab.Lab) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	hosts := map[string]*natlab.Host{}
	for _, k := range labKinds {
		for _, side := range []string{"a", "b"} {
			r := lab.AddRouter(k, opts...)
			h := r.AddHost()
			if k == natlab.Forwarded {
				r.Forward(h, labPort)
			}
			hosts[k.String()+"-"+side] = h
			if k == natlab.Easy && side == "a" {
				hosts["easy-lan"] = r.AddHost()
			}
		}
	}
	return startLabNodes(t, wan, ntp.Addr().String(), hosts), lab
}

// TestConnectMatrix connects every pair of NAT kinds with each strategy
// alone, and checks which work and that the others fail or are skipped
// saying why; and two hosts on one LAN over their internal addresses.
// TestConnectRace races all strategies over the same pairs.
func TestConnectMatrix(t *testing.T) {
	nodes, _ := labMatrix(t)
	type pair struct {
		from, to natlab.Kind
	}
	var pairs []pair
	for _, f := range labKinds {
		for _, to := range labKinds {
			pairs = append(pairs, pair{f, to})
		}
	}

	t.Run("same LAN", func(t *testing.T) {
		from, to := nodes["easy-a"], nodes["easy-lan"]
		status, c := connect(t, from, to)
		if status != http.StatusCreated || c.Strategy != "direct" {
			t.Fatalf("status %d, strategy %q, want direct: %s", status, c.Strategy, c.Detail)
		}
		// On the LAN the internal address is used, not the router's.
		if !strings.HasPrefix(c.RemoteAddr, to.host.IP().String()+":") {
			t.Errorf("remote address %s, want the peer's internal IP %s", c.RemoteAddr, to.host.IP())
		}
		from.close(t, c.ID)
	})

	t.Run("each strategy alone", func(t *testing.T) {
		for _, p := range pairs {
			// The pairs run side by side, each on its own pair of nodes;
			// a pair's strategies run one after another, since the
			// connections of one pair share the nodes' one link, whose
			// path a connect allowing another strategy would replace.
			t.Run(fmt.Sprintf("%s-to-%s", p.from, p.to), func(t *testing.T) {
				t.Parallel()
				from, to := nodes[p.from.String()+"-a"], nodes[p.to.String()+"-b"]
				for _, s := range []string{"direct", "reverse", "punch", "relay"} {
					t.Run(s, func(t *testing.T) {
						status, c := connect(t, from, to, s)
						if !works(s, p.from, p.to) {
							// The plan skips what it knows cannot work; the rest fail.
							if status != http.StatusBadGateway || len(c.Attempts) != 1 || (c.Attempts[0].Outcome != "failed" && c.Attempts[0].Outcome != "skipped") || c.Attempts[0].Reason == "" {
								t.Fatalf("status %d %+v, want 502 with the failed or skipped attempt and its reason", status, c)
							}
							t.Logf("%s fails as expected: %s", s, c.Attempts[0].Reason)
							return
						}
						if status != http.StatusCreated || c.Strategy != s {
							t.Fatalf("status %d, strategy %q: %s %+v", status, c.Strategy, c.Detail, c.Attempts)
						}
						to.inbound(t, from.info.NodeID, s)
						from.close(t, c.ID)
					})
				}
			})
		}
	})
}
