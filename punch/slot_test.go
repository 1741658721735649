package punch

import (
	"testing"
	"time"
)

func TestNextSlot(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name      string
		last, now time.Time
		want      time.Time // with a dither of 7ms
	}{
		{"refused at once", ms(0), ms(0), ms(20)},
		{"refused within the slot", ms(0), ms(5), ms(20)},
		{"every fourth slot is dithered", ms(40), ms(41), ms(67)},
		{"after a dithered slot", ms(67), ms(68), ms(80)},
		{"slow dial skips missed slots", ms(20), ms(95), ms(100)},
		{"now exactly on a slot", ms(60), ms(80), ms(80)},
		{"never the slot the last dial used", ms(80), ms(80), ms(100)},
		{"meeting time long past", ms(1003), ms(1004), ms(1027)},
		{"before the meeting time", ms(-50), ms(-40), ms(0)},
	}
	dither := func(interval time.Duration) time.Duration {
		if interval != 20*time.Millisecond {
			t.Errorf("dither asked for interval %s", interval)
		}
		return 7 * time.Millisecond
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := nextSlot(start, tt.last, tt.now, 20*time.Millisecond, dither)
			if !got.Equal(tt.want) {
				t.Errorf("nextSlot(last +%s, now +%s) = +%s, want +%s",
					tt.last.Sub(start), tt.now.Sub(start), got.Sub(start), tt.want.Sub(start))
			}
		})
	}
}

func TestRandomDither(t *testing.T) {
	t.Parallel()
	for range 1000 {
		if d := randomDither(20 * time.Millisecond); d < 0 || d >= 20*time.Millisecond {
			t.Fatalf("dither %s outside [0, 20ms)", d)
		}
	}
}

// TestRefusedRedial: after a reset, the next dial comes within
// Interval/refusedGapDivisor, never at once.
func TestRefusedRedial(t *testing.T) {
	t.Parallel()
	interval := 20 * time.Millisecond
	for _, d := range []time.Duration{0, 77 * time.Microsecond, interval/refusedGapDivisor - 1} {
		got := refusedRedial(interval, func(max time.Duration) time.Duration {
			if max != interval/refusedGapDivisor {
				t.Errorf("dither asked for %v, want %v", max, interval/refusedGapDivisor)
			}
			return d
		})
		if want := max(d, time.Microsecond); got != want {
			t.Errorf("dither %v: redial after %v, want %v", d, got, want)
		}
	}
}
