package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// waitInbound waits until n lists an inbound connection from peer made by
// strategy.
func waitInbound(t testing.TB, n *node.Node, peer, strategy string) *node.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, c := range n.Conns() {
			info := c.Info()
			if info.Direction == node.Inbound && info.PeerID == peer && info.Strategy == strategy && info.State != node.StateClosed {
				return c
			}
		}
		_, _, next := n.Events(n.LastEventID())
		select {
		case <-next:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("no inbound %s connection from %s", strategy, peer)
		}
	}
}

// readN reads exactly n bytes from c.
func readN(t testing.TB, c *node.Conn, n int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []byte
	for len(out) < n {
		b, err := c.Read(ctx, n-len(out))
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v", len(out), n, err)
		}
		out = append(out, b...)
	}
	return out
}

func TestConnectEachStrategy(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	bAddr := mustParse(t, b.Address())
	for _, s := range node.DefaultStrategies {
		t.Run(s, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := a.Connect(ctx, bAddr, []string{s})
			if err != nil {
				t.Fatal(err)
			}
			info := out.Info()
			if info.Strategy != s || info.PeerID != b.ID() || info.Direction != node.Outbound || len(info.Attempts) != 1 || info.Attempts[0].Outcome != "ok" {
				t.Errorf("outbound info %+v", info)
			}
			in := waitInbound(t, b, a.ID(), s)

			ping, pong := make([]byte, 100<<10), make([]byte, 70<<10)
			rand.Read(ping)
			rand.Read(pong)
			go out.Write(ping)
			go in.Write(pong)
			if got := readN(t, in, len(ping)); !bytes.Equal(got, ping) {
				t.Error("inbound side read other bytes than were sent")
			}
			if got := readN(t, out, len(pong)); !bytes.Equal(got, pong) {
				t.Error("outbound side read other bytes than were sent")
			}

			// Half-close: the peer reads EOF and can still answer.
			if err := out.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if _, err := in.Read(ctx, 10); !errors.Is(err, io.EOF) {
				t.Fatalf("after CloseWrite the peer reads %v, want EOF", err)
			}
			if in.State() != node.StateHalfClosed {
				t.Errorf("peer state %s, want half_closed", in.State())
			}
			in.Write([]byte("bye"))
			if got := readN(t, out, 3); string(got) != "bye" {
				t.Errorf("read %q after half-close, want bye", got)
			}
			in.Close()
			select {
			case <-out.Done():
			case <-ctx.Done():
				t.Fatal("outbound side did not close after the peer closed")
			}
			if out.State() != node.StateClosed {
				t.Errorf("state %s, want closed", out.State())
			}
		})
	}
}

func TestConnectRefusesWrongKey(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	forged := mustParse(t, b.Address())
	pub, _, _ := ed25519.GenerateKey(nil)
	forged.NodeID = identity.NodeIDFromKey(pub)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := a.Connect(ctx, forged, []string{node.StrategyDirect})
	var ce *node.ConnectError
	if !errors.As(err, &ce) || len(ce.Attempts) != 1 {
		t.Fatalf("err %v, want a ConnectError with one attempt", err)
	}
	if r := ce.Attempts[0].Reason; !strings.Contains(r, "another node's key") {
		t.Errorf("reason %q does not say the key is wrong", r)
	}
	for _, c := range b.Conns() {
		t.Errorf("the impostor's target lists a connection: %+v", c.Info())
	}
}
