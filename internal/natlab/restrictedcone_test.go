//go:build linux

package natlab_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestRestrictedCone forwards a port to a host behind a RestrictedCone
// router: a WAN address the host has sent to reaches it (from any port),
// another does not; a Forwarded router lets both in.
func TestRestrictedCone(t *testing.T) {
	lab := natlab.New(t)
	wan := lab.WAN()
	wanAddrs := lab.WANAddrs()
	contacted, stranger := wanAddrs[0], wanAddrs[1]
	const port = 4242
	for _, tt := range []struct {
		kind          natlab.Kind
		wantStranger  bool
		wantContacted bool
	}{
		{natlab.RestrictedCone, false, true},
		{natlab.Forwarded, true, true},
	} {
		t.Run(tt.kind.String(), func(t *testing.T) {
			r := lab.AddRouter(tt.kind)
			h := r.AddHost()
			r.Forward(h, port)
			ln := listenAny(t, h, netip.AddrPortFrom(h.IP(), port))
			// The host talks to contacted (from another port).
			srv := listenAny(t, wan, netip.AddrPortFrom(contacted, 0))
			var c net.Conn
			if err := h.Do(func() (err error) { c, err = net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second); return err }); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			accept(t, srv).Close()

			target := netip.AddrPortFrom(r.WANIP(), port)
			for _, from := range []struct {
				ip   netip.Addr
				want bool
			}{{stranger, tt.wantStranger}, {contacted, tt.wantContacted}} {
				d := net.Dialer{Timeout: 500 * time.Millisecond, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from.ip, 0))}
				if from.want {
					d.Timeout = 5 * time.Second
				}
				var c2 net.Conn
				err := wan.Do(func() (err error) { c2, err = d.Dial("tcp", target.String()); return err })
				if c2 != nil {
					c2.Close()
					accept(t, ln).Close()
				}
				if got := err == nil; got != from.want {
					t.Errorf("dial %s from %s: delivered = %v (%v), want %v", target, from.ip, got, err, from.want)
				}
			}
		})
	}
}
