//go:build linux

package natlab_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/beevik/ntp"

	"github.com/reachd/reachd/internal/natlab"
)

// TestNTP queries the lab's chronyd from every host and the WAN with an
// independent client (beevik/ntp).
func TestNTP(t *testing.T) {
	tp := newTopology(t)
	addr := tp.lab.StartNTP(t)
	if again := tp.lab.StartNTP(t); again != addr {
		t.Errorf("second StartNTP = %s, want %s", again, addr)
	}
	for _, tt := range append(tp.hosts(), hostCase{"wan", tp.wan, tp.wan1}) {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host
			resp, err := ntp.QueryWithOptions(addr.String(), ntp.QueryOptions{
				Timeout: 5 * time.Second,
				Dialer: func(_, remote string) (c net.Conn, err error) {
					err = h.Do(func() error { c, err = net.Dial("udp4", remote); return err })
					return c, err
				},
			})
			if err != nil {
				t.Fatalf("query %s from %s: %v", addr, h.Name(), err)
			}
			if err := resp.Validate(); err != nil {
				t.Errorf("response: %v", err)
			}
			if resp.Stratum != 8 {
				t.Errorf("stratum %d, want 8", resp.Stratum)
			}
			// Same machine, same clock: the offset is only jitter.
			if off := resp.ClockOffset.Abs(); off > 100*time.Millisecond {
				t.Errorf("clock offset %v, want under 100ms", resp.ClockOffset)
			}
		})
	}
}

// TestNTPIPv6: in a dual-stack lab the server answers a v6-only host on
// WANAddrs6()[0].
func TestNTPIPv6(t *testing.T) {
	lab := natlab.New(t, natlab.WithIPv6())
	h := lab.AddRouter(natlab.Easy).AddHost(natlab.V6Only())
	addr := netip.AddrPortFrom(lab.WANAddrs6()[0], lab.StartNTP(t).Port())
	resp, err := ntp.QueryWithOptions(addr.String(), ntp.QueryOptions{
		Timeout: 5 * time.Second,
		Dialer: func(_, remote string) (c net.Conn, err error) {
			err = h.Do(func() error { c, err = net.Dial("udp6", remote); return err })
			return c, err
		},
	})
	if err != nil {
		t.Fatalf("query %s from %s: %v", addr, h.Name(), err)
	}
	if err := resp.Validate(); err != nil || resp.Stratum != 8 {
		t.Errorf("response: stratum %d, %v; want stratum 8", resp.Stratum, err)
	}
}
