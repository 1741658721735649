package node_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/service"
)

// nearMiss is id with one character changed that is still a valid node
// ID (an Ed25519 key), as a typo that happens to decode would be.
func nearMiss(t testing.TB, id string) string {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for _, c := range alphabet {
		near := id[:20] + string(c) + id[21:]
		if near != id && identity.ValidNodeID(near) == nil {
			return near
		}
	}
	t.Fatalf("no valid node ID one character from %s", id)
	return ""
}

// TestResolveNodeIDOverSignaling: a node ID that neither the book nor a
// link knows (here: a book entry saved by node ID alone) is resolved by
// asking its node over signaling, to that node's own address; the entry
// takes it, and a connect follows.
func TestResolveNodeIDOverSignaling(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := a.PutPeer("bee", "", b.ID()); err != nil {
		t.Fatal(err)
	}
	if p := a.AddressBook()[0]; p.Address != "" {
		t.Fatalf("the entry has an address before any lookup: %+v", p)
	}
	addr, source, err := a.Resolve(ctx, "bee")
	if err != nil || source != node.SourceSignaling || addr.NodeID != b.ID() || addr.String() != b.Address() {
		t.Fatalf("Resolve(bee, saved by node ID alone): %v %q %v, want b's address %s over signaling", addr, source, err, b.Address())
	}
	if p := a.AddressBook()[0]; p.Address != b.Address() {
		t.Errorf("book entry after the lookup: %+v, want b's address", p)
	}
	if addr, source, err = a.Resolve(ctx, b.ID()); err != nil || source != node.SourceBook || addr.String() != b.Address() {
		t.Errorf("Resolve(b's node ID) after the lookup: %v %q %v, want it from the book", addr, source, err)
	}
	c, err := a.Connect(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Info().PeerID != b.ID() {
		t.Errorf("connected to %s", c.Info().PeerID)
	}
}

// TestResolveNodeIDNoAnswer: a near-miss node ID, and the node ID of a
// node whose policy would not accept us, get ErrNoAnswer on field
// address, with the message the API shows.
func TestResolveNodeIDNoAnswer(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	closed := nodetest.Start(t, rv, func(c *node.Config) { c.Accept = node.AcceptAllowlist; c.Allow = []string{b.ID()} })
	for name, id := range map[string]string{"near miss": nearMiss(t, b.ID()), "policy refuses": closed.ID()} {
		t.Run(name, func(t *testing.T) {
			_, _, err := a.Resolve(t.Context(), id)
			var fe *service.FieldError
			if !errors.Is(err, node.ErrNoAnswer) || !errors.As(err, &fe) || fe.Field != "address" ||
				!strings.Contains(err.Error(), "no node with this ID answered") || !strings.Contains(err.Error(), id) {
				t.Errorf("Resolve: %v, want ErrNoAnswer on field address naming %s", err, id)
			}
		})
	}
	// The node that would accept b answers it.
	if a, _, err := b.Resolve(t.Context(), closed.ID()); err != nil || a.NodeID != closed.ID() {
		t.Errorf("b resolves the node that allows it: %v %v", a, err)
	}
}

// BenchmarkLocate: resolving a node ID over signaling, in signaling round
// trips (an echo to the peer through the same broker), on loopback.
func BenchmarkLocate(b *testing.B) {
	rv := rendezvoustest.Start(b)
	a := nodetest.Start(b, rv)
	// The peer answers each node at most its peer request rate: lift it.
	peer := nodetest.Start(b, rv, func(c *node.Config) { c.Limits.PeerRequestRate, c.Limits.RequestRate = 1e6, 1e6 })
	ctx := context.Background()
	pa, _, _ := a.Resolve(ctx, peer.Address())
	var echo time.Duration
	for range 10 {
		r, err := a.Echo(ctx, pa)
		if err != nil {
			b.Fatal(err)
		}
		echo += time.Duration(r.RTTMS * float64(time.Millisecond))
	}
	echo /= 10
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		a.ForgetLocated()
		if _, _, err := a.Resolve(ctx, peer.ID()); err != nil {
			b.Fatal(err)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/locate")
	b.ReportMetric(float64(per)/float64(echo), "echo-rtts/locate")
}
