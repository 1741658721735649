package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestAbortedConnHoldsNoData: a peer sends 64 KiB nobody reads, then its
// link ends (the peer stops). The connection is aborted and frees what it
// held at once: a read gets the abort, not the stale bytes, and the node
// counts nothing buffered.
func TestAbortedConnHoldsNoData(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := a.Connect(ctx, mustParse(t, b.Address()), []string{node.StrategyDirect})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	in := waitInbound(t, b, a.ID(), node.StrategyDirect)
	for b.Metrics().RecvBuffered < 64<<10 {
		if ctx.Err() != nil {
			t.Fatalf("b buffered %d bytes, want 64 KiB", b.Metrics().RecvBuffered)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.Close()
	select {
	case <-in.Done():
	case <-ctx.Done():
		t.Fatal("the connection did not end with its peer")
	}
	if got := b.Metrics().RecvBuffered; got != 0 {
		t.Errorf("b holds %d unread bytes of an aborted connection", got)
	}
	n, err := in.ReadInto(ctx, make([]byte, 128<<10))
	var ae *node.AbortError
	if n != 0 || !errors.As(err, &ae) {
		t.Errorf("read on the aborted connection: %d bytes, %v; want 0 and the abort", n, err)
	}
}
