package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// TestBookLearnsMovedAddress: a peer with a link that tells its new
// address (address_moved) updates its address book entry, and the
// connection carries on; a peer without a link is refused.
func TestBookLearnsMovedAddress(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a, b, stranger := nodetest.Start(t, rv), nodetest.Start(t, rv), nodetest.Start(t, rv)
	old := mustParse(t, b.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a.Connect(ctx, old, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old.MachineID = "0123456789abcdef" // as if b had moved since
	if _, _, err := a.PutPeer("bee", old.String(), ""); err != nil {
		t.Fatal(err)
	}
	if err := b.TellAddress(ctx, a.ID()); err != nil {
		t.Fatalf("b tells a its address: %v", err)
	}
	if got := a.AddressBook(); len(got) != 1 || got[0].Address == old.String() || got[0].NodeID != b.ID() {
		t.Errorf("book after b told its address: %+v, want bee updated", got)
	}
	if _, err := c.Write([]byte("still here")); err != nil {
		t.Errorf("write after b moved: %v", err)
	}
	var refused *signaling.RemoteError
	if err := stranger.TellAddress(ctx, a.ID()); !errors.As(err, &refused) {
		t.Errorf("a stranger tells a its address: %v, want refused", err)
	}
}
