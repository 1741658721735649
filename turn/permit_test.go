package turn_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/turn/turntest"
)

func TestPeerWithoutPermission(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			a := allocate(t, srv.start(t))
			permit(t, a, loopback2)

			// From 127.0.0.1, which has no permission: the server closes
			// the TCP connection on the relayed port without a byte.
			if err := refusedPeer(loopback, a.RelayedAddr()); err != nil {
				t.Fatal(err)
			}

			// It was not announced: Accept has nothing to return...
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if c, err := a.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Accept after a refused peer = %v, %v; want context.DeadlineExceeded", c, err)
			}

			// ...and the next Accept returns the permitted peer.
			allowed := dialFrom(t, loopback2, a.RelayedAddr())
			c := accept(t, a)
			if got, want := c.RemoteAddr().String(), allowed.LocalAddr().String(); got != want {
				t.Fatalf("accepted %s, want the permitted peer %s", got, want)
			}
			exchange(t, c, allowed, 4096)
		})
	}
}

// refusedPeer dials addr from the local IP from and checks that the server
// ends the connection without sending a byte: pion's server accepts it and
// closes it (the peer reads EOF); coturn resets it, during the handshake or
// right after.
func refusedPeer(from netip.Addr, addr netip.AddrPort) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr.String())
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) {
			return nil // coturn, most of the time
		}
		return fmt.Errorf("peer without permission: dial: %w, want success or connection reset", err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || !(err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
		return fmt.Errorf("peer without permission: Read = %d, %v; want 0 and EOF or connection reset", n, err)
	}
	return nil
}

func TestPermitRejectsBadAddresses(t *testing.T) {
	a := allocate(t, servers[0].start(t))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		ips  []netip.Addr
		want string
	}{
		{"none", nil, "no addresses"},
		{"invalid", []netip.Addr{{}}, "invalid address"},
		{"other family", []netip.Addr{netip.MustParseAddr("::1")}, "address family differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := a.Permit(ctx, tc.ips...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Permit(%v) = %v, want an error containing %q", tc.ips, err, tc.want)
			}
		})
	}
}

// TestPermitAfterStaleNonce lets coturn's nonce expire (stale-nonce=1s):
// CreatePermission is answered 438 Stale Nonce, pion takes the new nonce and
// Permit retries.
func TestPermitAfterStaleNonce(t *testing.T) {
	t.Parallel() // waits for the server's clock
	a := allocate(t, turntest.StartCoturn(t, "stale-nonce=1").URL())
	time.Sleep(2500 * time.Millisecond) // not synchronisation: the server's nonce must age
	permit(t, a, loopback)
	cb := dialFrom(t, loopback, a.RelayedAddr())
	ca := accept(t, a)
	exchange(t, ca, cb, 4096)
}

// TestAcceptedConnOutlivesPermission lets coturn's permission expire
// (permission-lifetime=1s): the accepted connection keeps working, and only
// new peer connections are refused.
func TestAcceptedConnOutlivesPermission(t *testing.T) {
	t.Parallel() // waits for the server's clock
	a, ca, cb := connect(t, turntest.StartCoturn(t, "permission-lifetime=1").URL())
	time.Sleep(2500 * time.Millisecond) // not synchronisation: the permission must expire
	exchange(t, ca, cb, 64<<10)
	if err := refusedPeer(loopback, a.RelayedAddr()); err != nil {
		t.Fatalf("after the permission expired: %v", err)
	}
}

// TestPermitSent: PermitSent tells when the request is on its way, before
// it returns, and the permission then admits the peer as Permit's does.
func TestPermitSent(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			a := allocate(t, srv.start(t))
			sent := make(chan struct{})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.PermitSent(ctx, func() { close(sent) }, loopback2); err != nil {
				t.Fatal(err)
			}
			select {
			case <-sent:
			default:
				t.Fatal("PermitSent returned without saying the request was sent")
			}
			allowed := dialFrom(t, loopback2, a.RelayedAddr())
			c := accept(t, a)
			exchange(t, c, allowed, 1024)
		})
	}
}
