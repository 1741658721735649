package natprobe_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/rendezvous"
)

func TestMapOnce(t *testing.T) {
	srv, err := rendezvous.NewSTUNServer(rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p, err := natprobe.New(natprobe.Config{STUNServers: []string{"stun.invalid:3478"}, TransactionTimeout: 200 * time.Millisecond, TCPTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	local := netip.MustParseAddr("127.0.0.1")
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			// The server given, not the configured one (nothing resolved).
			got, err := p.MapOnce(ctx, network, local, srv.Addrs()[0])
			if err != nil {
				t.Fatal(err)
			}
			if got.Addr() != local || got.Port() == 0 {
				t.Fatalf("mapped %v, want 127.0.0.1 with a port (no NAT on loopback)", got)
			}
			if _, err := p.MapOnce(ctx, network, local, netip.MustParseAddrPort("127.0.0.1:1")); err == nil {
				t.Error("a server that does not answer: want an error")
			}
		})
	}
	if _, err := p.MapOnce(ctx, "sctp", local, srv.Addrs()[0]); err == nil {
		t.Error("network sctp: want an error")
	}
}
