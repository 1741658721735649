package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reachd/reachd/names"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/service"
)

// TestPublicNames: a name registered on the rendezvous's name service
// resolves for another node (source names, the service named) and
// connects; a second key cannot take it; it is kept across a restart
// and registered again; once dropped it no longer resolves.
func TestPublicNames(t *testing.T) {
	rv := rendezvoustest.Start(t)
	dir := t.TempDir()
	a := nodetest.Start(t, rv, func(c *node.Config) { c.DataDir = dir })
	b := nodetest.Start(t, rv)
	c := nodetest.Start(t, rv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	info, created, err := a.RegisterName(ctx, "alpha")
	if err != nil || !created || len(info.Services) != 1 || !info.Services[0].Registered || info.Address != a.Address() {
		t.Fatalf("register: %+v %v %v", info, created, err)
	}
	got, addr, err := b.LookupName(ctx, "alpha")
	if err != nil || got.NodeID != a.ID() || got.Source != node.SourceNames || got.Service == "" || addr.NodeID != a.ID() {
		t.Fatalf("lookup by b: %+v %v", got, err)
	}
	ref, source, err := b.Resolve(ctx, "alpha")
	if err != nil || source != node.SourceNames || ref.NodeID != a.ID() {
		t.Fatalf("Resolve(alpha): %v %q %v", ref, source, err)
	}
	conn, err := b.Connect(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if conn.Info().PeerID != a.ID() {
		t.Errorf("connected to %s", conn.Info().PeerID)
	}
	conn.Close()

	// An address change renews the record at once (a newer one).
	a.RenewNamesAsIfMoved()
	if ns := a.Names(); len(ns) != 1 || !ns[0].ExpiresAt.After(info.ExpiresAt) || !ns[0].Services[0].Registered {
		t.Errorf("after an address change: %+v, want a newer record registered (was until %v)", ns, info.ExpiresAt)
	}
	info = a.Names()[0]

	_, _, err = c.RegisterName(ctx, "alpha")
	var fe *service.FieldError
	if !errors.Is(err, names.ErrTaken) || !errors.As(err, &fe) || fe.Field != "name" {
		t.Fatalf("another key registers the name: %v, want ErrTaken on field name", err)
	}
	if _, _, err := c.RegisterName(ctx, "Not_A_Label"); !errors.Is(err, names.ErrName) {
		t.Errorf("a bad name: %v, want ErrName", err)
	}

	a.Close()
	a2 := nodetest.Start(t, rv, func(c *node.Config) { c.DataDir = dir })
	if ns := a2.Names(); len(ns) != 1 || ns[0].Name != "alpha" {
		t.Fatalf("names after a restart: %+v", ns)
	}
	// The restarted node registers it again at once (a new record).
	for ns := a2.Names(); !ns[0].ExpiresAt.After(info.ExpiresAt); ns = a2.Names() {
		if ctx.Err() != nil {
			t.Fatalf("the name was not registered again after the restart: %+v", ns)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a2.DropName(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.LookupName(ctx, "alpha"); !errors.Is(err, names.ErrNotFound) {
		t.Errorf("lookup after the drop: %v, want ErrNotFound", err)
	}
	if _, _, err := c.Resolve(ctx, "alpha"); !errors.Is(err, node.ErrNoPeer) {
		t.Errorf("Resolve after the drop (by a node that has not resolved it before): %v, want ErrNoPeer", err)
	}
	if err := a2.DropName(ctx, "alpha"); !errors.Is(err, node.ErrNotMine) {
		t.Errorf("drop again: %v, want ErrNotMine", err)
	}
	// c may have it now.
	if _, _, err := c.RegisterName(ctx, "alpha"); err != nil {
		t.Errorf("c registers the dropped name: %v", err)
	}
}
