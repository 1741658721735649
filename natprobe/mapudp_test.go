package natprobe_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/rendezvous"
)

func TestMapUDP(t *testing.T) {
	srv, err := rendezvous.NewSTUNServer(rendezvous.STUNConfig{Listen: []string{"127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p, err := natprobe.New(natprobe.Config{STUNServers: []string{srv.Addrs()[0].String()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := p.MapUDP(ctx, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Addr() != netip.MustParseAddr("127.0.0.1") || got.Port() == 0 {
		t.Fatalf("mapped %v, want 127.0.0.1 with a port (no NAT on loopback)", got)
	}

	dead, err := natprobe.New(natprobe.Config{STUNServers: []string{"127.0.0.1:1"}, TransactionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.MapUDP(ctx, netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Error("a server that does not answer: want an error")
	}
}
