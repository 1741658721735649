package node_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/network"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
	"github.com/reachd/reachd/tap"
)

// TestNetworkForgedAnnounce: a key holder who knows a network's secret
// announces, signed with its own key, another node's peer address as its
// own: the member refuses it (no row, nothing dialled for it). A second
// key holder's honest announce, sent after it over the same broker, is
// taken, so the first was heard and dropped, not lost.
func TestNetworkForgedAnnounce(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("TAP devices need root")
		}
		t.Skip("TAP devices need root")
	}
	rv := rendezvoustest.Start(t)
	a, b := nodetest.Start(t, rv), nodetest.Start(t, rv)
	const name, secret = "forged", "correct horse battery staple"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.JoinNetwork(ctx, network.JoinConfig{Name: name, Secret: secret, IP: "10.86.0.1/24"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.LeaveNetwork(context.Background(), name) })
	keys, err := network.Derive(name, secret)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(addr func(id string) string, ip string, ok func(id string) bool) string {
		var id *identity.Identity
		for id == nil || !ok(id.NodeID()) {
			if id, err = identity.LoadOrCreate(t.TempDir()); err != nil {
				t.Fatal(err)
			}
		}
		c, err := signaling.New(signaling.Config{Identity: id, Brokers: []string{rendezvoustest.MQTTURL(rv)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		g, err := c.JoinGroup(keys.Topic, keys.Seal, func(context.Context, *signaling.Message) {})
		if err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"address": addr(id.NodeID()), "ip": ip,
			"mac": tap.StableMAC(id.NodeID() + "/" + name).String(), "auto": false, "ready": true}
		announce, _ := signaling.KindOf("net_announce")
		if err := g.Publish(ctx, announce, body); err != nil {
			t.Fatal(err)
		}
		return id.NodeID()
	}
	anyID := func(string) bool { return true }
	forger := publish(func(string) string { return b.Address() }, "10.86.0.2/24", anyID)
	// The honest one has a's own IPs (so a refuses none of them) and a
	// smaller node ID (so it is the dialer, and a dials nothing).
	self, err := address.Parse(a.Address())
	if err != nil {
		t.Fatal(err)
	}
	honest := publish(func(id string) string {
		own := self
		own.NodeID = id
		return own.String()
	}, "10.86.0.3/24", func(id string) bool { return id < a.ID() })

	for {
		info, err := a.Network(name)
		if err != nil {
			t.Fatal(err)
		}
		has := func(id string) bool {
			return slices.ContainsFunc(info.Members, func(m network.Member) bool { return m.NodeID == id })
		}
		if has(honest) {
			if has(forger) {
				t.Errorf("the member took an announce of %s's address from %s: %+v", b.ID(), forger, info.Members)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the honest announce never arrived: %+v", info.Members)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
