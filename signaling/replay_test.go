package signaling

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestReplayCache(t *testing.T) {
	type step struct {
		from, id     string
		ts, exp, now int64
		want         DropReason
	}
	tests := []struct {
		name   string
		size   int
		window time.Duration
		start  int64
		steps  []step
	}{
		{"new then replay", 10, time.Second, 1000, []step{
			{"a", "1", 1000, 2000, 1000, ""},
			{"a", "1", 1000, 2000, 1500, DropReplay},
			{"a", "1", 1000, 2000, 2000, DropReplay}, // exp == now: still remembered
		}},
		{"same id other sender", 10, time.Second, 1000, []step{
			{"a", "1", 1000, 2000, 1000, ""},
			{"b", "1", 1000, 2000, 1000, ""},
		}},
		{"sent before start", 10, time.Second, 1000, []step{
			{"a", "1", 999, 5000, 1000, DropTooOld},
			{"a", "2", 1000, 5000, 1000, ""},
		}},
		{"expired entries are forgotten", 10, time.Second, 1000, []step{
			{"a", "1", 1000, 2000, 1000, ""},
			{"a", "2", 1500, 9000, 2001, ""}, // prunes "a/1"
		}},
		{"one sender keeps its newest within a tenth", 20, time.Second, 1000, []step{
			{"a", "1", 1000, 9000, 1000, ""},
			{"a", "2", 1100, 9000, 1100, ""},
			{"a", "3", 1200, 9000, 1200, ""}, // forgets a/1: a's own cutoff is 1000
			{"a", "1", 1000, 9000, 1200, DropTooOld},
			{"a", "2", 1100, 9000, 1200, DropReplay},
			{"a", "3", 1200, 9000, 1200, DropReplay},
			{"a", "0", 900, 9000, 1200, DropTooOld},
			{"b", "1", 1000, 9000, 1200, ""}, // others are not affected
			{"a", "4", 1200, 9000, 1300, ""}, // forgets a/2
			{"a", "4", 1200, 9000, 1300, DropReplay},
			{"a", "2", 1100, 9000, 1300, DropTooOld},
			{"a", "5", 9001, 9500, 9001, ""}, // a's entries and cutoff expired
			{"a", "0", 1000, 9500, 9001, ""},
		}},
		{"full: the cutoff rises to now-window and no further", 2, time.Second, 1000, []step{
			{"a", "1", 1100, 9000, 1100, ""},
			{"b", "1", 3000, 9000, 3000, ""},
			{"c", "1", 3000, 9000, 3000, ""},         // full: cutoff 2000 forgets a/1
			{"a", "1", 1100, 9000, 3000, DropTooOld}, // cannot be proven new
			{"d", "1", 3500, 9000, 3500, DropReplayFull},
			{"d", "1", 3000, 9000, 3900, DropReplayFull}, // 900ms old: never too_old
			{"d", "1", 3000, 9000, 4000, ""},             // cutoff 3000 forgets b/1 and c/1
			{"b", "1", 3000, 9000, 4000, DropTooOld},
		}},
		{"future-dated flood: the cutoff stays in the past", 3, time.Second, 1000, []step{
			{"x", "1", 6000, 9000, 1000, ""},
			{"y", "1", 6000, 9000, 1000, ""},
			{"z", "1", 6000, 9000, 1000, ""},
			{"w", "1", 6000, 9000, 1000, DropReplayFull}, // full; cutoff 0
			{"g", "1", 1000, 9000, 1000, DropReplayFull}, // refused for room, not as too old
			{"g", "1", 1000, 9000, 5500, DropReplayFull},
			{"g", "2", 5500, 9000, 7001, ""}, // cutoff 6001 forgets the flood
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newReplayCache(tt.size, tt.window, tt.start)
			for i, s := range tt.steps {
				if got := c.check(s.from, s.id, s.ts, s.exp, s.now); got != s.want {
					t.Fatalf("step %d %+v: got %q", i, s, got)
				}
				if n := c.len(); n > tt.size {
					t.Fatalf("step %d: %d entries, cap %d", i, n, tt.size)
				}
				if c.cutoff > s.now-tt.window.Milliseconds() && c.cutoff >= tt.start {
					t.Fatalf("step %d: cutoff %d passed now-window %d", i, c.cutoff, s.now-tt.window.Milliseconds())
				}
			}
		})
	}
}

// TestReplayFloodFutureDatedStranger is the replay-cache blackout of issue
// 12: a stranger floods a full cache's worth of validly signed messages dated
// at the edge of the allowed skew. Before, each eviction raised the too_old
// cutoff to the evicted message's ts, i.e. into the future, and every genuine
// message was dropped as too_old. The stranger now only fills its own share
// (its oldest forgotten as it sends more).
func TestReplayFloodFutureDatedStranger(t *testing.T) {
	const now = 1_000_000
	skew, ttl := DefaultMaxSkew.Milliseconds(), int64(60_000)
	c := newReplayCache(DefaultReplayCacheSize, DefaultReplayWindow, now)
	accepted := 0
	for i := range DefaultReplayCacheSize + 50 {
		ts := now + skew - 1
		if c.check("stranger", fmt.Sprint(i), ts, ts+ttl, now) == "" {
			accepted++
		}
	}
	share := DefaultReplayCacheSize / replaySenderShare
	if held := c.senders["stranger"].byTS.Len(); held > share || accepted < share {
		t.Errorf("the cache holds %d of the stranger's messages (%d accepted), want at most its share %d", held, accepted, share)
	}
	for i := range 100 {
		ts := int64(now + i*100)
		if r := c.check("genuine", fmt.Sprint(i), ts, ts+30_000, ts); r != "" {
			t.Fatalf("genuine message %d at +%dms dropped: %s", i, i*100, r)
		}
	}
}

// TestReplayFloodManySenders: with max unexpired messages from many keys, the
// cache refuses new ones (replay_full) but never calls a message younger than
// the window too old, and it forgets the flood once the flood is older.
func TestReplayFloodManySenders(t *testing.T) {
	const now, size = 1_000_000, 1000
	window := DefaultReplayWindow.Milliseconds()
	c := newReplayCache(size, DefaultReplayWindow, now)
	for i := range size {
		ts := now + DefaultMaxSkew.Milliseconds()
		if r := c.check(fmt.Sprint("s", i), "1", ts, ts+300_000, now); r != "" {
			t.Fatalf("flood message %d: %s", i, r)
		}
	}
	if r := c.check("genuine", "1", now, now+30_000, now); r != DropReplayFull {
		t.Fatalf("genuine message during the flood: %q, want replay_full", r)
	}
	later := now + DefaultMaxSkew.Milliseconds() + window + 1
	if r := c.check("genuine", "2", later-window/2, later+30_000, later); r != "" {
		t.Fatalf("genuine message after the flood aged: %q", r)
	}
	if n := c.len(); n != 1 {
		t.Fatalf("len = %d, want 1 (the flood forgotten)", n)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(100, time.Millisecond, 0)
	for i := range 10_000 {
		ts := int64(1 + i)
		if r := c.check(fmt.Sprint("s", i%20), fmt.Sprint(i), ts, ts+1_000_000, ts); r != "" {
			t.Fatalf("message %d: %q", i, r)
		}
	}
	if n := c.len(); n != 100 {
		t.Fatalf("len = %d, want 100", n)
	}
	if r := c.check("s0", "0", 1, 1_000_001, 10_000); r != DropTooOld {
		t.Fatalf("forgotten message: %q, want too_old", r)
	}
	if r := c.check("s19", "9999", 10_000, 1_010_000, 10_000); r != DropReplay {
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
