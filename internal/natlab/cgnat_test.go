//go:build linux

package natlab_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestCGNATAddressing checks the CGNAT part of the addressing plan.
func TestCGNATAddressing(t *testing.T) {
	lab := natlab.New(t, natlab.WithIPv6())
	cg := lab.AddCGNAT(natlab.Hard)
	home := cg.AddRouter(natlab.Easy)
	phone := cg.AddHost()
	home2 := cg.AddRouter(natlab.Hard, natlab.Link{})
	h := home.AddHost()
	tests := []struct {
		name      string
		got, want string
	}{
		{"cgnat", fmt.Sprint(cg.Kind(), " ", cg.CGNAT(), " ", cg.Upstream()), "hard true <nil>"},
		{"cgnat wan", fmt.Sprint(cg.WANIP(), " ", cg.WANIP6()), "203.0.113.11 2001:db8:ffff::11"},
		{"cgnat lan", fmt.Sprint(cg.LAN(), " ", cg.LANIP(), " ", cg.LAN6()), "100.64.1.0/24 100.64.1.1 2001:db8:1::/64"},
		{"home", fmt.Sprint(home.Kind(), " ", home.CGNAT(), " ", home.Upstream() == cg), "easy false true"},
		{"home wan", fmt.Sprint(home.WANIP(), " ", home.WANIP6()), "100.64.1.2 2001:db8:1::2"},
		{"home lan", fmt.Sprint(home.LAN(), " ", home.LAN6()), "10.2.0.0/24 2001:db8:2::/64"},
		{"phone", fmt.Sprint(phone.IP(), " ", phone.IP6()), "100.64.1.3 2001:db8:1::3"},
		{"second home wan", fmt.Sprint(home2.WANIP(), " ", home2.LAN()), "100.64.1.4 10.3.0.0/24"},
		{"home host", fmt.Sprint(h.IP(), " ", h.IP6()), "10.2.0.2 2001:db8:2::2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

// TestCGNAT sends from hosts behind home routers behind CGNATs (one Easy,
// one Hard, one home router with a forwarder link) and a host on a CGNAT's
// own LAN: the CGNAT's access network sees the home router's 100.64
// address, the WAN the CGNAT's address; the CGNAT's kind decides whether
// the mapping depends on the destination; and what the WAN sends unasked
// to a mapping is dropped.
func TestCGNAT(t *testing.T) {
	lab := natlab.New(t)
	wan := lab.WAN()
	wan1, wan2 := lab.WANAddrs()[0], lab.WANAddrs()[1]
	cgEasy, cgHard := lab.AddCGNAT(natlab.Easy), lab.AddCGNAT(natlab.Hard)
	homeEasy := cgEasy.AddRouter(natlab.Easy)
	homeHard := cgHard.AddRouter(natlab.Easy)
	homeLinked := cgHard.AddRouter(natlab.Easy, natlab.Link{Delay: time.Millisecond})
	tests := []struct {
		name       string
		host       *natlab.Host
		cgnat      *natlab.Router
		inner      netip.Addr // the source the CGNAT's access network sees
		wantSame   bool       // both mappings (to wan1 and wan2) are equal
		wantSource netip.Addr // the source the WAN sees
	}{
		{"easy_cgnat", homeEasy.AddHost(), cgEasy, homeEasy.WANIP(), true, cgEasy.WANIP()},
		{"hard_cgnat", homeHard.AddHost(), cgHard, homeHard.WANIP(), false, cgHard.WANIP()},
		{"hard_cgnat_linked_home", homeLinked.AddHost(), cgHard, homeLinked.WANIP(), false, cgHard.WANIP()},
		{"on_cgnat_lan", cgHard.AddHost(), cgHard, netip.Addr{}, false, cgHard.WANIP()},
	}
	for _, tt := range tests {
		if !tt.inner.IsValid() {
			tt.inner = tt.host.IP()
		}
		t.Run(tt.name, func(t *testing.T) {
			// The first translation: a server on the CGNAT's own LAN address.
			inner := listen(t, tt.cgnat.Host(), netip.AddrPortFrom(tt.cgnat.LANIP(), 0).String())
			serveRemoteAddr(t, inner)
			out, err := tt.host.Command(t.Context(), os.Args[0], helper("dial", inner.Addr().String())...).Output()
			if err != nil {
				t.Fatalf("dial %s: %v: %s", inner.Addr(), err, errOutput(err))
			}
			if seen, err := netip.ParseAddrPort(strings.TrimSpace(string(out))); err != nil || seen.Addr() != tt.inner {
				t.Errorf("cgnat saw %q (%v), want source %s", out, err, tt.inner)
			}

			// The second: both WAN addresses, from one local port.
			ln := listen(t, wan, "0.0.0.0:0")
			port := addrPort(ln.Addr()).Port()
			var local uint16
			var mapped []netip.AddrPort
			for _, dst := range []netip.Addr{wan1, wan2} {
				c, err := dial(tt.host, local, netip.AddrPortFrom(dst, port), 5*time.Second)
				if err != nil {
					t.Fatalf("dial %s:%d: %v", dst, port, err)
				}
				t.Cleanup(func() { c.Close() })
				local = addrPort(c.LocalAddr()).Port()
				mapped = append(mapped, addrPort(accept(t, ln).RemoteAddr()))
			}
			t.Logf("local port %d, mapped to %s and %s", local, mapped[0], mapped[1])
			for _, m := range mapped {
				if m.Addr() != tt.wantSource {
					t.Errorf("wan saw source %s, want the cgnat's %s", m.Addr(), tt.wantSource)
				}
			}
			if same := mapped[0] == mapped[1]; same != tt.wantSame {
				t.Errorf("mappings %s and %s: equal = %v, want %v", mapped[0], mapped[1], same, tt.wantSame)
			}

			// Unasked, from the other WAN address, to the first mapping.
			d := net.Dialer{Timeout: 500 * time.Millisecond, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(wan2, 0))}
			var c net.Conn
			err = wan.Do(func() (err error) { c, err = d.Dial("tcp4", mapped[0].String()); return err })
			if c != nil {
				c.Close()
			}
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				t.Errorf("unasked dial to %s: %v, want a timeout (SYN dropped)", mapped[0], err)
			}
		})
	}
}

// TestCGNATIPv6: behind a CGNAT IPv6 is routed without translation; the
// carrier does not filter it (a host on its LAN is reachable unasked), a
// home router behind it does.
func TestCGNATIPv6(t *testing.T) {
	lab := natlab.New(t, natlab.WithIPv6())
	wan := lab.WAN()
	cg := lab.AddCGNAT(natlab.Hard)
	h := cg.AddRouter(natlab.Easy).AddHost(natlab.V6Only())
	phone := cg.AddHost()
	ln := listen6(t, wan, netip.AddrPortFrom(lab.WANAddrs6()[0], 0).String())
	serveRemoteAddr(t, ln)
	for _, tt := range []struct {
		name          string
		host          *natlab.Host
		wantDelivered bool
	}{
		{"behind_home_router", h, false},
		{"on_cgnat_lan", phone, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.host.Command(t.Context(), os.Args[0], helper("dial", ln.Addr().String())...).Output()
			if err != nil {
				t.Fatalf("dial %s: %v: %s", ln.Addr(), err, errOutput(err))
			}
			if seen, err := netip.ParseAddrPort(strings.TrimSpace(string(out))); err != nil || seen.Addr() != tt.host.IP6() {
				t.Errorf("wan saw %q (%v), want the host's own %s", out, err, tt.host.IP6())
			}
			port := addrPort(listen6(t, tt.host, "[::]:0").Addr()).Port()
			d := net.Dialer{Timeout: 500 * time.Millisecond}
			if tt.wantDelivered {
				d.Timeout = 5 * time.Second
			}
			target := netip.AddrPortFrom(tt.host.IP6(), port)
			var c net.Conn
			err = wan.Do(func() (err error) { c, err = d.Dial("tcp6", target.String()); return err })
			if c != nil {
				c.Close()
			}
			if delivered := err == nil; delivered != tt.wantDelivered {
				t.Errorf("unasked dial to %s: delivered = %v (%v), want %v", target, delivered, err, tt.wantDelivered)
			}
		})
	}
}
