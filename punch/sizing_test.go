package punch

import (
	"net/netip"
	"testing"
	"time"
)

func TestSized(t *testing.T) {
	t.Parallel()
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name                    string
		rtt, attempt, window    time.Duration
		wantAttempt, wantWindow time.Duration
	}{
		{"no rtt keeps both", 0, ms(500), ms(3000), ms(500), ms(3000)},
		{"no rtt keeps short ones", 0, ms(100), ms(300), ms(100), ms(300)},
		{"short rtt keeps the defaults", ms(20), ms(500), ms(3000), ms(500), ms(3000)},
		{"rtt just under the default attempt", ms(333), ms(500), ms(3000), ms(500), ms(3000)},
		{"rtt where the attempt grows", ms(400), ms(500), ms(3000), ms(600), ms(3000)},
		{"window grows past 4 attempts", ms(600), ms(500), ms(3000), ms(900), ms(3600)},
		{"geostationary with congestion", ms(1000), ms(500), ms(3000), ms(1500), ms(6000)},
		{"a longer attempt is kept", ms(200), ms(2000), ms(3000), ms(2000), ms(8000)},
		{"a longer window is kept", ms(600), ms(500), ms(10000), ms(900), ms(10000)},
		{"a short given window grows with the rtt", ms(100), ms(100), ms(300), ms(150), ms(600)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, w := sized(tt.rtt, tt.attempt, tt.window)
			if a != tt.wantAttempt || w != tt.wantWindow {
				t.Errorf("sized(%v, %v, %v) = %v, %v; want %v, %v", tt.rtt, tt.attempt, tt.window, a, w, tt.wantAttempt, tt.wantWindow)
			}
			if tt.rtt > 0 && (float64(a) < AttemptRTTs*float64(tt.rtt) || w < WindowAttempts*a) {
				t.Errorf("attempt %v is shorter than %g round trips of %v, or window %v holds fewer than %d", a, AttemptRTTs, tt.rtt, w, WindowAttempts)
			}
		})
	}
}

func TestConfigFillSizesFromRTT(t *testing.T) {
	t.Parallel()
	ap := netip.MustParseAddrPort("127.0.0.1:40000")
	tests := []struct {
		name                    string
		rtt                     time.Duration
		wantAttempt, wantWindow time.Duration
	}{
		{"zero rtt is today's defaults", 0, DefaultAttemptTimeout, DefaultWindow},
		{"600ms round trip", 600 * time.Millisecond, 900 * time.Millisecond, 3600 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{LocalAddr: ap, Remote: ap, RTT: tt.rtt}
			if err := c.fill(); err != nil {
				t.Fatal(err)
			}
			if c.AttemptTimeout != tt.wantAttempt || c.Window != tt.wantWindow {
				t.Errorf("attempt %v, window %v; want %v, %v", c.AttemptTimeout, c.Window, tt.wantAttempt, tt.wantWindow)
			}
		})
	}
}
