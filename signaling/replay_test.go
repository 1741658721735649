package signaling

import (
	"fmt"
	"strings"
	"testing"
)

func TestReplayCache(t *testing.T) {
	type step struct {
		from, id     string
		ts, exp, now int64
		want         DropReason
	}
	tests := []struct {
		name  string
		max   int
		start int64
		steps []step
	}{
		{"new then replay", 10, 1000, []step{
			{"a", "1", 1000, 2000, 1000, ""},
			{"a", "1", 1000, 2000, 1500, DropReplay},
			{"a", "1", 1000, 2000, 2000, DropReplay}, // exp == now: still remembered
		}},
		{"same id other sender", 10, 1000, []step{
			{"a", "1", 1000, 2000, 1000, ""},
			{"b", "1", 1000, 2000, 1000, ""},
		}},
		{"sent before start", 10, 1000, []step{
			{"a", "1", 999, 5000, 1000, DropTooOld},
			{"a", "2", 1000, 5000, 1000, ""},
		}},
		{"expired entries are forgotten", 10, 1000, []step{
			{"a", "1", 1000, 2000, 1000, ""},
			{"a", "2", 1500, 9000, 2001, ""}, // prunes "a/1"
		}},
		{"eviction raises the horizon", 2, 1000, []step{
			{"a", "1", 1100, 5000, 1100, ""},
			{"a", "2", 1200, 6000, 1200, ""},
			{"a", "3", 1300, 7000, 1300, ""},         // evicts a/1 (first to expire), horizon 1100
			{"a", "1", 1100, 5000, 1300, DropTooOld}, // cannot be proven new
			{"a", "4", 1150, 9000, 1300, ""},         // newer than the horizon: accepted, evicts a/2
			{"a", "2", 1200, 6000, 1300, DropTooOld},
			{"a", "3", 1300, 7000, 1300, DropReplay},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newReplayCache(tt.max, tt.start)
			for i, s := range tt.steps {
				if got := c.check(s.from, s.id, s.ts, s.exp, s.now); got != s.want {
					t.Fatalf("step %d %+v: got %q", i, s, got)
				}
				if n := c.len(); n > tt.max {
					t.Fatalf("step %d: %d entries, cap %d", i, n, tt.max)
				}
			}
		})
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(100, 0)
	for i := range 10_000 {
		ts := int64(1 + i)
		if r := c.check("a", fmt.Sprint(i), ts, ts+1_000_000, ts); r != "" {
			t.Fatalf("message %d: %q", i, r)
		}
	}
	if n := c.len(); n != 100 {
		t.Fatalf("len = %d, want 100", n)
	}
	if r := c.check("a", "0", 1, 1_000_001, 10_000); r != DropTooOld {
		t.Fatalf("evicted message: %q, want too_old", r)
	}
	if r := c.check("a", "9999", 10_000, 1_010_000, 10_000); r != DropReplay {
		t.Fatalf("kept message: %q, want replay", r)
	}
}

func TestPahoURL(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"mqtt://broker.example", "tcp://broker.example:1883", ""},
		{"mqtt://127.0.0.1:1884", "tcp://127.0.0.1:1884", ""},
		{"mqtt://[::1]:1884/", "tcp://[::1]:1884", ""},
		{"mqtts://b.example", "ssl://b.example:8883", ""},
		{"ws://b.example/mqtt", "ws://b.example:80/mqtt", ""},
		{"wss://u:p@b.example:8443/mqtt", "wss://u:p@b.example:8443/mqtt", ""},
		{"tcp://b.example:1883", "", "scheme"},
		{"mqtt://", "", "no host"},
		{"mqtt://b.example/path", "", "path"},
		{"mqtt://b.example?x=1", "", "query"},
		{"://", "", "missing protocol scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := pahoURL(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("pahoURL = %v, %v; want error with %q", u, err, tt.err)
				}
				return
			}
			if err != nil || u.String() != tt.want {
				t.Fatalf("pahoURL = %v, %v; want %s", u, err, tt.want)
			}
		})
	}
}
