package node_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestSilentHandshakeFloodKeepsDoorOpen: silent connections from 8
// loopback addresses (one /24) and from 32 (32 /24s), 16 from each,
// redialled as soon as the node closes one, cannot keep peers out: a
// genuine new peer connects, and so does a peer that already has a link
// (a new path for it, as a resume makes), every time.
func TestSilentHandshakeFloodKeepsDoorOpen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		addrs func(i int) string
		n     int
		// stall: the flood sends a whole preamble (naming a key of its
		// own) and stalls in TLS; only peers with a link are sure to
		// get in then (the slots kept for them).
		stall bool
	}{
		{"8 addresses", func(i int) string { return fmt.Sprintf("127.0.0.%d", 2+i) }, 8, false},
		{"32 addresses", func(i int) string { return fmt.Sprintf("127.0.%d.2", 1+i) }, 32, false},
		{"32 addresses stalling after the preamble", func(i int) string { return fmt.Sprintf("127.0.%d.2", 1+i) }, 32, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv := rendezvoustest.Start(t)
			b := nodetest.Start(t, rv)
			linked := nodetest.Start(t, rv)
			stranger := nodetest.Start(t, rv)
			preamble := append([]byte("RCHD\x03"), make([]byte, 16)...)
			preamble = append(preamble, nodetest.Start(t, rv).ID()...)
			bAddr := mustParse(t, b.Address())
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			first, err := linked.Connect(ctx, bAddr, []string{node.StrategyDirect})
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close()

			target := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(bAddr.IPv4[0].ListenPort)))
			flood, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			defer func() { stop(); wg.Wait() }()
			for i := range tc.n {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(tc.addrs(i))}}
				for range 16 {
					wg.Go(func() {
						for flood.Err() == nil {
							c, err := d.DialContext(flood, "tcp", target)
							if err != nil {
								continue
							}
							stopped := context.AfterFunc(flood, func() { c.Close() })
							if tc.stall {
								c.Write(preamble)
								c.Read(make([]byte, 1)) // the answer
							}
							c.Read(make([]byte, 1)) // until the node closes it
							stopped()
							c.Close()
						}
					})
				}
			}
			// The flood is on once the node closes silent connections, or
			// refuses connections for want of slots.
			for m := b.Metrics().Refused; m[node.RefusedSilent]+m[node.RefusedHandshakes] < 64; m = b.Metrics().Refused {
				if ctx.Err() != nil {
					t.Fatalf("the flood never filled the slots: %v", b.Metrics().Refused)
				}
				time.Sleep(10 * time.Millisecond)
			}
			for i := range 5 {
				if !tc.stall {
					cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
					c, err := stranger.ConnectWith(cctx, bAddr, node.ConnectOptions{Strategies: []string{node.StrategyDirect}, Fresh: true})
					ccancel()
					if err != nil {
						t.Fatalf("new peer, connect %d during the flood: %v (b refused %v)", i, err, b.Metrics().Refused)
					}
					c.Close()
				}
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				c, err := linked.ConnectWith(cctx, bAddr, node.ConnectOptions{Strategies: []string{node.StrategyDirect}, Fresh: true})
				ccancel()
				if err != nil {
					t.Fatalf("peer with a link, new path %d during the flood: %v (b refused %v)", i, err, b.Metrics().Refused)
				}
				c.Close()
			}
			t.Logf("b refused %v", b.Metrics().Refused)
		})
	}
}
