//go:build linux

package natlab_test

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestLabAddressing checks the addressing plan of the package comment.
func TestLabAddressing(t *testing.T) {
	tp := newTopology(t)
	tests := []struct {
		name      string
		got, want string
	}{
		{"wan addrs", fmt.Sprint(tp.lab.WANAddrs()), "[203.0.113.1 203.0.113.2]"},
		{"wan host", tp.wan.IP().String(), "203.0.113.1"},
		{"public wan", tp.pub.WANIP().String(), "203.0.113.11"},
		{"public lan", tp.pub.LAN().String(), "198.51.100.16/28"},
		{"public host", tp.pubH.IP().String(), "198.51.100.18"},
		{"forwarded wan", tp.fwd.WANIP().String(), "203.0.113.12"},
		{"forwarded lan", tp.fwd.LAN().String(), "10.2.0.0/24"},
		{"forwarded gateway", tp.fwd.LANIP().String(), "10.2.0.1"},
		{"forwarded hosts", fmt.Sprint(tp.fwdH.IP(), tp.fwdH2.IP()), "10.2.0.2 10.2.0.3"},
		{"easy host", tp.easyH.IP().String(), "10.3.0.2"},
		{"hard wan", tp.hard.WANIP().String(), "203.0.113.14"},
		{"hard host", tp.hardH.IP().String(), "10.4.0.2"},
		{"fullcone host", tp.coneH.IP().String(), "10.5.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
	for _, h := range []*natlab.Host{tp.wan, tp.pubH, tp.fwdH, tp.pub.Host()} {
		if n := len(h.Name()); !strings.HasPrefix(h.Name(), tp.lab.Prefix()) || n > 15 {
			t.Errorf("namespace name %q: want prefix %q and at most 15 bytes", h.Name(), tp.lab.Prefix())
		}
	}
}

// TestReachWAN runs a client in every host (the test binary, by
// Host.Command) against a server in the WAN namespace, which tells it the
// source address it saw.
func TestReachWAN(t *testing.T) {
	forEachTopology(t, func(t *testing.T, tp *topology) {
		ln := listen(t, tp.wan, netip.AddrPortFrom(tp.wan1, 0).String())
		serveRemoteAddr(t, ln)
		for _, tt := range tp.hosts() {
			t.Run(tt.name, func(t *testing.T) {
				out, err := tt.host.Command(t.Context(), os.Args[0], helper("dial", ln.Addr().String())...).Output()
				if err != nil {
					t.Fatalf("dial from %s: %v: %s", tt.host.Name(), err, errOutput(err))
				}
				seen, err := netip.ParseAddrPort(strings.TrimSpace(string(out)))
				if err != nil {
					t.Fatalf("helper output %q: %v", out, err)
				}
				if seen.Addr() != tt.source {
					t.Errorf("wan saw source %s, want %s", seen.Addr(), tt.source)
				}
			})
		}
	})
}

// TestMapping opens two connections from one local port to the two WAN
// addresses: the endpoints the WAN sees show whether the router keeps the
// port and whether the mapping depends on the destination.
func TestMapping(t *testing.T) {
	forEachTopology(t, func(t *testing.T, tp *topology) {
		ln := listen(t, tp.wan, "0.0.0.0:0")
		port := addrPort(ln.Addr()).Port()
		tests := []struct {
			name         string
			host         *natlab.Host
			wantSource   netip.Addr
			wantKeepPort bool // both mappings use the local port
			wantSame     bool // both mappings are equal
		}{
			{"public", tp.pubH, tp.pubH.IP(), true, true},
			{"forwarded", tp.fwdH, tp.fwd.WANIP(), true, true},
			{"easy", tp.easyH, tp.easy.WANIP(), true, true},
			{"hard", tp.hardH, tp.hard.WANIP(), false, false},
			{"fullcone", tp.coneH, tp.cone.WANIP(), true, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var local uint16
				var mapped []netip.AddrPort
				for _, dst := range []netip.Addr{tp.wan1, tp.wan2} {
					c, err := dial(tt.host, local, netip.AddrPortFrom(dst, port), 5*time.Second)
					if err != nil {
						t.Fatalf("dial %s:%d: %v", dst, port, err)
					}
					t.Cleanup(func() { c.Close() })
					local = addrPort(c.LocalAddr()).Port()
					sc := accept(t, ln)
					if got := addrPort(sc.LocalAddr()).Addr(); got != dst {
						t.Fatalf("accepted a connection to %s, want %s", got, dst)
					}
					mapped = append(mapped, addrPort(sc.RemoteAddr()))
				}
				t.Logf("local port %d, mapped to %s and %s", local, mapped[0], mapped[1])
				for _, m := range mapped {
					if m.Addr() != tt.wantSource {
						t.Errorf("source %s, want %s", m.Addr(), tt.wantSource)
					}
				}
				if keep := mapped[0].Port() == local && mapped[1].Port() == local; keep != tt.wantKeepPort {
					t.Errorf("mapped ports %d and %d from local %d: keeps port = %v, want %v",
						mapped[0].Port(), mapped[1].Port(), local, keep, tt.wantKeepPort)
				}
				if same := mapped[0] == mapped[1]; same != tt.wantSame {
					t.Errorf("mappings %s and %s: equal = %v, want %v", mapped[0], mapped[1], same, tt.wantSame)
				}
			})
		}
	})
}
