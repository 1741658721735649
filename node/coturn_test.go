package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/turn/turntest"
)

// TestRelayThroughCoturn connects two nodes by the relay strategy through
// coturn, the TURN server most deployments run.
func TestRelayThroughCoturn(t *testing.T) {
	ct := turntest.StartCoturn(t)
	rv := rendezvoustest.Start(t)
	useCoturn := nodetest.Option(func(c *node.Config) { c.TURN = []string{ct.URL()} })
	a := nodetest.Start(t, rv, useCoturn)
	b := nodetest.Start(t, rv, useCoturn)
	addr := mustParse(t, b.Address())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := a.Connect(ctx, addr, []string{node.StrategyRelay})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	in := waitInbound(t, b, a.ID(), node.StrategyRelay)
	// One direction at a time: coturn 4.6 can stall when both directions
	// are loaded at once (seen in package turn's tests).
	for _, dir := range []struct {
		from, to *node.Conn
	}{{out, in}, {in, out}} {
		msg := make([]byte, 256<<10)
		rand.Read(msg)
		go dir.from.Write(msg)
		if got := readN(t, dir.to, len(msg)); !bytes.Equal(got, msg) {
			t.Fatal("bytes through coturn differ from those sent")
		}
	}
}
