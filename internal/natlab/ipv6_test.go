//go:build linux

package natlab_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// topology6 is a dual-stack lab: a router of each kind, dual-stack and
// v6-only hosts, and one router with a forwarder link (IPv6 must cross it
// like IPv4).
type topology6 struct {
	lab        *natlab.Lab
	wan        *natlab.Host
	wan1, wan2 netip.Addr // IPv6

	pub, fwd, easy, hard            *natlab.Router
	pubH, fwdH, easyH, easy6, hard6 *natlab.Host
}

func newTopology6(t *testing.T) *topology6 {
	t.Helper()
	tp := &topology6{lab: natlab.New(t, natlab.WithIPv6())}
	tp.wan = tp.lab.WAN()
	tp.wan1, tp.wan2 = tp.lab.WANAddrs6()[0], tp.lab.WANAddrs6()[1]
	tp.pub = tp.lab.AddRouter(natlab.Public)
	tp.fwd = tp.lab.AddRouter(natlab.Forwarded)
	tp.easy = tp.lab.AddRouter(natlab.Easy, natlab.Link{Delay: time.Millisecond})
	tp.hard = tp.lab.AddRouter(natlab.Hard)
	tp.pubH, tp.fwdH = tp.pub.AddHost(), tp.fwd.AddHost()
	tp.easyH, tp.easy6 = tp.easy.AddHost(), tp.easy.AddHost(natlab.V6Only())
	tp.hard6 = tp.hard.AddHost(natlab.V6Only())
	tp.fwd.Forward(tp.fwdH, fwdPort)
	return tp
}

// dialNet connects from h to remote over network ("tcp4", "tcp6"), from
// local port lport (0: any) with SO_REUSEADDR.
func dialNet(h *natlab.Host, network string, lport uint16, remote netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{
		Timeout:   timeout,
		LocalAddr: &net.TCPAddr{Port: int(lport)},
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			})
			return errors.Join(err, serr)
		},
	}
	var c net.Conn
	err := h.Do(func() (err error) { c, err = d.Dial(network, remote.String()); return err })
	return c, err
}

func TestIPv6Addressing(t *testing.T) {
	tp := newTopology6(t)
	tests := []struct {
		name      string
		got, want string
	}{
		{"wan addrs6", fmt.Sprint(tp.lab.WANAddrs6()), "[2001:db8:ffff::1 2001:db8:ffff::2]"},
		{"wan addrs", fmt.Sprint(tp.lab.WANAddrs()), "[203.0.113.1 203.0.113.2]"},
		{"wan host", fmt.Sprint(tp.wan.IP(), " ", tp.wan.IP6()), "203.0.113.1 2001:db8:ffff::1"},
		{"public wan", fmt.Sprint(tp.pub.WANIP(), " ", tp.pub.WANIP6()), "203.0.113.11 2001:db8:ffff::11"},
		{"public lan6", tp.pub.LAN6().String(), "2001:db8:1::/64"},
		{"public host", fmt.Sprint(tp.pubH.IP(), " ", tp.pubH.IP6()), "198.51.100.18 2001:db8:1::2"},
		{"forwarded lan6", fmt.Sprint(tp.fwd.LAN6(), " ", tp.fwd.LANIP6()), "2001:db8:2::/64 2001:db8:2::1"},
		{"forwarded host", fmt.Sprint(tp.fwdH.IP(), " ", tp.fwdH.IP6()), "10.2.0.2 2001:db8:2::2"},
		{"easy hosts", fmt.Sprint(tp.easyH.IP6(), " ", tp.easy6.IP6()), "2001:db8:3::2 2001:db8:3::3"},
		{"v6-only host has no ipv4", fmt.Sprint(tp.easy6.IP().IsValid(), " ", tp.hard6.IP().IsValid()), "false false"},
		{"hard host", tp.hard6.IP6().String(), "2001:db8:4::2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
	if got := natlab.New(t).WANAddrs6(); got != nil {
		t.Errorf("WANAddrs6 of an IPv4 lab = %v, want nil", got)
	}
}

// TestIPv6ReachWAN runs a client in every host against servers in the WAN
// namespace: over IPv6 the WAN sees the host's own address (no NAT66);
// dual-stack hosts still reach it over IPv4 through their NAT; v6-only
// hosts have no IPv4 route. Pings cross too.
func TestIPv6ReachWAN(t *testing.T) {
	tp := newTopology6(t)
	ln6 := listen6(t, tp.wan, netip.AddrPortFrom(tp.wan1, 0).String())
	serveRemoteAddr(t, ln6)
	ln4 := listen(t, tp.wan, netip.AddrPortFrom(tp.lab.WANAddrs()[0], 0).String())
	serveRemoteAddr(t, ln4)
	tests := []struct {
		name   string
		host   *natlab.Host
		source netip.Addr // what the WAN sees over IPv4; invalid for v6-only
	}{
		{"public", tp.pubH, tp.pubH.IP()},
		{"forwarded", tp.fwdH, tp.fwd.WANIP()},
		{"easy_linked", tp.easyH, tp.easy.WANIP()},
		{"easy_v6only", tp.easy6, netip.Addr{}},
		{"hard_v6only", tp.hard6, netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := tt.host.Command(t.Context(), os.Args[0], helper("dial", ln6.Addr().String())...).Output()
			if err != nil {
				t.Fatalf("dial %s from %s: %v: %s", ln6.Addr(), tt.host.Name(), err, errOutput(err))
			}
			seen, err := netip.ParseAddrPort(strings.TrimSpace(string(out)))
			if err != nil {
				t.Fatalf("helper output %q: %v", out, err)
			}
			if seen.Addr() != tt.host.IP6() {
				t.Errorf("wan saw source %s over ipv6, want the host's own %s", seen.Addr(), tt.host.IP6())
			}

			out, err = tt.host.Command(t.Context(), os.Args[0], helper("dial", ln4.Addr().String())...).Output()
			switch {
			case !tt.source.IsValid() && err == nil:
				t.Errorf("v6-only host reached %s over ipv4: %s", ln4.Addr(), out)
			case tt.source.IsValid() && err != nil:
				t.Errorf("dial %s: %v: %s", ln4.Addr(), err, errOutput(err))
			case tt.source.IsValid():
				if seen, err := netip.ParseAddrPort(strings.TrimSpace(string(out))); err != nil || seen.Addr() != tt.source {
					t.Errorf("wan saw %q over ipv4 (%v), want source %s", out, err, tt.source)
				}
			}

			if out, err := tt.host.Command(t.Context(), "ping", "-6", "-c", "1", "-W", "5", tp.wan2.String()).CombinedOutput(); err != nil {
				t.Errorf("ping %s: %v: %s", tp.wan2, err, out)
			}
		})
	}
}

// TestIPv6Firewall sends unsolicited connections from the WAN to hosts'
// IPv6 addresses: to a port the host listens on, or to the port of the
// host's connection to another WAN endpoint. Only Public delivers, and a
// Forwarded router's forwarded port (its pinhole); the firewalls drop the
// SYN, so the dial times out. Connections the hosts open work (see
// TestIPv6ReachWAN).
func TestIPv6Firewall(t *testing.T) {
	tp := newTopology6(t)
	const wait = 500 * time.Millisecond
	tests := []struct {
		name          string
		host          *natlab.Host
		port          uint16 // listen on this port (0: any)
		mapped        bool   // target the port of a connection to tp.wan1 instead of a listener
		wantDelivered bool
	}{
		{"public", tp.pubH, 0, false, true},
		{"forwarded_pinhole", tp.fwdH, fwdPort, false, true},
		{"forwarded_other_port", tp.fwdH, 0, false, false},
		{"easy", tp.easyH, 0, false, false},
		{"easy_v6only", tp.easy6, 0, false, false},
		{"hard_v6only", tp.hard6, 0, false, false},
		{"easy_connected_other_endpoint", tp.easy6, 0, true, false},
		{"hard_connected_other_endpoint", tp.hard6, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var port uint16
			if tt.mapped {
				srv := listen6(t, tp.wan, netip.AddrPortFrom(tp.wan1, 0).String())
				c, err := dialNet(tt.host, "tcp6", 0, addrPort(srv.Addr()), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				port = addrPort(accept(t, srv).RemoteAddr()).Port()
			} else {
				port = addrPort(listen6(t, tt.host, fmt.Sprintf("[::]:%d", tt.port)).Addr()).Port()
			}
			d := net.Dialer{Timeout: wait, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(tp.wan2, 0))}
			if tt.wantDelivered {
				d.Timeout = 5 * time.Second
			}
			target := netip.AddrPortFrom(tt.host.IP6(), port)
			var c net.Conn
			err := tp.wan.Do(func() (err error) { c, err = d.Dial("tcp6", target.String()); return err })
			if c != nil {
				c.Close()
			}
			if delivered := err == nil; delivered != tt.wantDelivered {
				t.Fatalf("dial %s: delivered = %v (err %v), want %v", target, delivered, err, tt.wantDelivered)
			}
			var ne net.Error
			if !tt.wantDelivered && !(errors.As(err, &ne) && ne.Timeout()) {
				t.Errorf("dial %s: %v, want a timeout (SYN dropped by the firewall)", target, err)
			}
		})
	}
}

// TestIPv6SimultaneousOpen connects two firewalled v6-only hosts by a TCP
// simultaneous open: each dials the other from a fixed port at the same
// moment. The first SYN to arrive is dropped by the far firewall, which
// has no state yet; once both have sent, each firewall takes the other's
// SYN for an answer, and both sockets connect. This is what punching over
// IPv6 relies on.
func TestIPv6SimultaneousOpen(t *testing.T) {
	tp := newTopology6(t)
	a, b := tp.easy6, tp.hard6
	const pa, pb = 41000, 42000
	var wg sync.WaitGroup
	var ca, cb net.Conn
	var ea, eb error
	wg.Go(func() { ca, ea = dialNet(a, "tcp6", pa, netip.AddrPortFrom(b.IP6(), pb), 8*time.Second) })
	wg.Go(func() { cb, eb = dialNet(b, "tcp6", pb, netip.AddrPortFrom(a.IP6(), pa), 8*time.Second) })
	wg.Wait()
	for _, c := range []net.Conn{ca, cb} {
		if c != nil {
			defer c.Close()
		}
	}
	if ea != nil || eb != nil {
		t.Fatalf("simultaneous open: %s: %v; %s: %v", a.Name(), ea, b.Name(), eb)
	}
	if got, want := addrPort(ca.RemoteAddr()), netip.AddrPortFrom(b.IP6(), pb); got != want {
		t.Errorf("%s connected to %s, want %s", a.Name(), got, want)
	}
	if _, err := ca.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	_ = cb.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := cb.Read(buf); string(buf[:n]) != "hello\n" {
		t.Errorf("%s read %q, %v; want hello", b.Name(), buf[:n], err)
	}
}

// listen6 opens a TCP listener over IPv6 inside h's namespace.
func listen6(t *testing.T, h *natlab.Host, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) { ln, err = net.Listen("tcp6", addr); return err }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, h.Name(), err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestIPv6LinkFirstConnect: the first IPv6 connection from behind a new
// linked router crosses without loss, like the first IPv4 one
// (TestLinkFirstConnect).
func TestIPv6LinkFirstConnect(t *testing.T) {
	// A frame lost by chance on a loaded machine costs one run; a link
	// that loses its first frames loses them in every new lab.
	var took time.Duration
	for try := range 2 {
		lab := natlab.New(t, natlab.WithIPv6())
		r := lab.AddRouter(natlab.Easy, natlab.Link{Delay: 50 * time.Millisecond})
		h := r.AddHost(natlab.V6Only())
		ln := listen6(t, lab.WAN(), netip.AddrPortFrom(lab.WANAddrs6()[0], 0).String())
		acceptAll(t, ln)
		if err := h.Do(func() error {
			start := time.Now()
			c, err := net.DialTimeout("tcp6", ln.Addr().String(), 5*time.Second)
			took = time.Since(start)
			if c != nil {
				c.Close()
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// 100 ms of round trip; a lost SYN costs a 1 s retransmission.
		if took < time.Second {
			return
		}
		t.Logf("lab %d: first connect took %v (link %+v)", try+1, took, r.LinkStats())
	}
	t.Errorf("first connect took %v in two new labs: the new link loses its first frames", took)
}

// TestIPv6RejectWithReset: a firewall built with RejectWithReset refuses
// unsolicited IPv6 TCP to its LAN at once.
func TestIPv6RejectWithReset(t *testing.T) {
	lab := natlab.New(t, natlab.WithIPv6())
	h := lab.AddRouter(natlab.Hard, natlab.RejectWithReset()).AddHost(natlab.V6Only())
	target := netip.AddrPortFrom(h.IP6(), 4999)
	d := net.Dialer{Timeout: 2 * time.Second}
	var c net.Conn
	err := lab.WAN().Do(func() (err error) { c, err = d.Dial("tcp6", target.String()); return err })
	if c != nil {
		c.Close()
		t.Fatalf("dial %s: connected, want no listener", target)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s: %v, want connection refused (reset by the router)", target, err)
	}
}

// TestIPv4OnlyRouter: in a dual-stack lab a router built IPv4Only (and a
// home router behind an IPv4Only CGNAT) gives its hosts IPv4 only, while
// the other routers keep their numbering.
func TestIPv4OnlyRouter(t *testing.T) {
	lab := natlab.New(t, natlab.WithIPv6())
	v4 := lab.AddRouter(natlab.Easy, natlab.IPv4Only())
	home := lab.AddCGNAT(natlab.Hard, natlab.IPv4Only()).AddRouter(natlab.Easy)
	dual := lab.AddRouter(natlab.Hard)
	ln6 := listen6(t, lab.WAN(), netip.AddrPortFrom(lab.WANAddrs6()[0], 0).String())
	acceptAll(t, ln6)
	ln4 := listen(t, lab.WAN(), netip.AddrPortFrom(lab.WANAddrs()[0], 0).String())
	acceptAll(t, ln4)
	for _, tt := range []struct {
		name string
		r    *natlab.Router
		v6   bool
	}{{"ipv4only", v4, false}, {"behind_ipv4only_cgnat", home, false}, {"dual_stack", dual, true}} {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.r.AddHost()
			if got := h.IP6().IsValid() || tt.r.WANIP6().IsValid() || tt.r.LAN6().IsValid(); got != tt.v6 {
				t.Errorf("host %s, router %s %s: has ipv6 = %v, want %v", h.IP6(), tt.r.WANIP6(), tt.r.LAN6(), got, tt.v6)
			}
			for _, ln := range []net.Listener{ln4, ln6} {
				c, err := dialNet(h, "tcp", 0, addrPort(ln.Addr()), 2*time.Second)
				if c != nil {
					c.Close()
				}
				want := addrPort(ln.Addr()).Addr().Is4() || tt.v6
				if (err == nil) != want {
					t.Errorf("dial %s: %v, want connected = %v", ln.Addr(), err, want)
				}
			}
		})
	}
	if got := lab.Routers()[3].LAN6().String(); got != "2001:db8:4::/64" {
		t.Errorf("fourth router's lan6 %s, want 2001:db8:4::/64", got)
	}
}
