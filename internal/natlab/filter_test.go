//go:build linux

package natlab_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestForward reaches the forwarded port from the WAN, from behind another
// NAT, from the same LAN through the WAN address (hairpin) and directly.
func TestForward(t *testing.T) {
	forEachTopology(t, func(t *testing.T, tp *topology) {
		fwdAddr := netip.AddrPortFrom(tp.fwd.WANIP(), fwdPort)
		ln := listen(t, tp.fwdH, fmt.Sprintf("0.0.0.0:%d", fwdPort))
		tests := []struct {
			name       string
			from       *natlab.Host
			to         netip.AddrPort
			wantSource netip.Addr // the client address the forwarded host sees
		}{
			{"from_wan", tp.wan, fwdAddr, tp.wan1},
			{"from_other_nat", tp.easyH, fwdAddr, tp.easy.WANIP()},
			{"hairpin", tp.fwdH2, fwdAddr, tp.fwd.LANIP()},
			{"same_lan_direct", tp.fwdH2, netip.AddrPortFrom(tp.fwdH.IP(), fwdPort), tp.fwdH2.IP()},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, err := dial(tt.from, 0, tt.to, 5*time.Second)
				if err != nil {
					t.Fatalf("dial %s from %s: %v", tt.to, tt.from.Name(), err)
				}
				defer c.Close()
				sc := accept(t, ln)
				if got := addrPort(sc.RemoteAddr()).Addr(); got != tt.wantSource {
					t.Errorf("host saw client %s, want %s", got, tt.wantSource)
				}
				if _, err := c.Write([]byte("ping\n")); err != nil {
					t.Fatal(err)
				}
				_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
				if line, err := bufio.NewReader(sc).ReadString('\n'); line != "ping\n" {
					t.Errorf("host read %q, %v; want ping", line, err)
				}
			})
		}

		t.Run("udp", func(t *testing.T) {
			var pc net.PacketConn
			if err := tp.fwdH.Do(func() (err error) {
				pc, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", fwdPort))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			var c *net.UDPConn
			if err := tp.wan.Do(func() (err error) {
				c, err = net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(tp.wan2, 0)),
					net.UDPAddrFromAddrPort(fwdAddr))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := pc.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "hello" || addrPort(from).Addr() != tp.wan2 {
				t.Fatalf("host got %q from %v, %v; want hello from %s", buf[:n], from, err, tp.wan2)
			}
			// The reply leaves through the router's WAN address and port.
			if _, err := pc.WriteTo([]byte("world"), from); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, rfrom, err := c.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != "world" || rfrom != fwdAddr {
				t.Fatalf("wan got %q from %v, %v; want world from %s", buf[:n], rfrom, err, fwdAddr)
			}
		})
	})
}

// TestFiltering sends unsolicited connections from the WAN to a host: to a
// port the host listens on, or to the port mapped for the host's connection
// to another WAN endpoint. Only Public delivers; the NAT routers drop the
// SYN, so the dial times out rather than being refused by router or host.
func TestFiltering(t *testing.T) {
	forEachTopology(t, func(t *testing.T, tp *topology) {
		// Inside one machine a delivered SYN is answered in well under a
		// millisecond.
		const wait = 500 * time.Millisecond
		tests := []struct {
			name          string
			host          *natlab.Host
			addr          netip.Addr // the host's address as seen from the WAN
			from          netip.Addr // the WAN client's address
			mapped        bool       // target the port mapped for a connection to tp.wan1 instead of a listener
			wantDelivered bool
		}{
			{"public", tp.pubH, tp.pubH.IP(), tp.wan1, false, true},
			{"forwarded_other_port", tp.fwdH, tp.fwd.WANIP(), tp.wan1, false, false},
			{"easy", tp.easyH, tp.easy.WANIP(), tp.wan1, false, false},
			{"hard", tp.hardH, tp.hard.WANIP(), tp.wan1, false, false},
			// A port the host never sent from has no mapping to reach.
			{"fullcone_unmapped", tp.coneH, tp.cone.WANIP(), tp.wan1, false, false},
			{"easy_mapped_other_endpoint", tp.easyH, tp.easy.WANIP(), tp.wan2, true, false},
			{"hard_mapped_other_endpoint", tp.hardH, tp.hard.WANIP(), tp.wan2, true, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var port uint16
				if tt.mapped {
					// Open a mapping: a connection from the host to tp.wan1.
					srv := listen(t, tp.wan, netip.AddrPortFrom(tp.wan1, 0).String())
					c, err := dial(tt.host, 0, addrPort(srv.Addr()), 5*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					port = addrPort(accept(t, srv).RemoteAddr()).Port()
				} else {
					port = addrPort(listen(t, tt.host, "0.0.0.0:0").Addr()).Port()
				}
				d := net.Dialer{Timeout: wait, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(tt.from, 0))}
				if tt.wantDelivered {
					d.Timeout = 5 * time.Second
				}
				target := netip.AddrPortFrom(tt.addr, port)
				var c net.Conn
				err := tp.wan.Do(func() (err error) { c, err = d.Dial("tcp4", target.String()); return err })
				if c != nil {
					c.Close()
				}
				if delivered := err == nil; delivered != tt.wantDelivered {
					t.Fatalf("dial %s from %s: delivered = %v (err %v), want %v", target, tt.from, delivered, err, tt.wantDelivered)
				}
				var ne net.Error
				if !tt.wantDelivered && !(errors.As(err, &ne) && ne.Timeout()) {
					t.Errorf("dial %s: %v, want a timeout (SYN dropped by the router)", target, err)
				}
			})
		}
	})
}

// TestUnsolicitedToRouter dials a closed port on each router's own WAN
// address from the WAN: by default every kind drops the SYN and the dial
// times out; a router built with RejectWithReset refuses it at once.
func TestUnsolicitedToRouter(t *testing.T) {
	lab := natlab.New(t)
	wan := lab.WAN()
	const closedPort = 4999
	tests := []struct {
		name      string
		router    *natlab.Router
		wantReset bool
	}{
		{"public", lab.AddRouter(natlab.Public), false},
		{"forwarded", lab.AddRouter(natlab.Forwarded), false},
		{"easy", lab.AddRouter(natlab.Easy), false},
		{"hard", lab.AddRouter(natlab.Hard), false},
		{"public_reset", lab.AddRouter(natlab.Public, natlab.RejectWithReset()), true},
		{"easy_reset", lab.AddRouter(natlab.Easy, natlab.RejectWithReset()), true},
		{"hard_reset", lab.AddRouter(natlab.Hard, natlab.RejectWithReset()), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := netip.AddrPortFrom(tt.router.WANIP(), closedPort)
			d := net.Dialer{Timeout: 500 * time.Millisecond}
			var c net.Conn
			err := wan.Do(func() (err error) { c, err = d.Dial("tcp4", target.String()); return err })
			if c != nil {
				c.Close()
				t.Fatalf("dial %s: connected, want no listener", target)
			}
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			refused := errors.Is(err, syscall.ECONNREFUSED)
			if tt.wantReset && !refused {
				t.Errorf("dial %s: %v, want connection refused (reset by the router)", target, err)
			}
			if !tt.wantReset && !timedOut {
				t.Errorf("dial %s: %v, want a timeout (SYN dropped by the router)", target, err)
			}
		})
	}
}
