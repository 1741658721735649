package natprobe_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/rendezvous"
)

func TestMapTCP(t *testing.T) {
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
	// Loopback has no NAT: the mapping is the local endpoint itself, and the
	// port can be mapped again at once (no TIME_WAIT left behind).
	local := netip.MustParseAddrPort("127.0.0.1:0")
	got, err := p.MapTCP(ctx, local)
	if err != nil {
		t.Fatal(err)
	}
	if got.Addr() != local.Addr() || got.Port() == 0 {
		t.Fatalf("mapped %v, want 127.0.0.1 with a port", got)
	}
	fixed := netip.AddrPortFrom(local.Addr(), got.Port())
	for i := 0; i < 2; i++ {
		again, err := p.MapTCP(ctx, fixed)
		if err != nil {
			t.Fatalf("map %d from %v: %v", i, fixed, err)
		}
		if again != fixed {
			t.Errorf("map %d from %v = %v, want the same endpoint", i, fixed, again)
		}
	}

	dead, err := natprobe.New(natprobe.Config{STUNServers: []string{"127.0.0.1:1"}, TCPTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.MapTCP(ctx, local); err == nil {
		t.Error("MapTCP with no reachable server succeeded")
	}
}
