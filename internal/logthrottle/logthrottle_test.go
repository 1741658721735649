package logthrottle_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reachd/reachd/internal/logthrottle"
)

func TestLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := logthrottle.New(time.Second, 2)
		type result struct {
			ok bool
			n  int
		}
		var got []result
		step := func() {
			ok, n := l.Allow()
			got = append(got, result{ok, n})
		}
		step()
		step()
		step() // burst spent
		step()
		time.Sleep(time.Second)
		step() // one token back: reports the two held back
		step()
		time.Sleep(10 * time.Second)
		step()
		step()
		step()
		want := []result{{true, 0}, {true, 0}, {false, 0}, {false, 0}, {true, 2}, {false, 0}, {true, 1}, {true, 0}, {false, 0}}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("Allow results %v, want %v", got, want)
			}
		}
	})
}

// A flood of records at warn and above, such as a TURN server's error per
// spoofed packet, yields the burst and then one line per interval; debug
// records pass.
func TestHandlerThrottlesFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		h := logthrottle.NewHandler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.LevelWarn, time.Second, 3)
		log := slog.New(h).With("component", "turn")
		for range 5 {
			for i := range 1000 {
				log.Error("bad packet", "from", i)
			}
			log.Debug("detail")
			time.Sleep(time.Second)
		}
		text := out.String()
		if n := strings.Count(text, "bad packet"); n != 3+4 {
			t.Errorf("%d error lines for 5000 records, want 7:\n%s", n, text)
		}
		if n := strings.Count(text, "detail"); n != 5 {
			t.Errorf("%d debug lines, want 5", n)
		}
		if !strings.Contains(text, "from=0 suppressed=999") {
			t.Errorf("no suppressed count:\n%s", text)
		}
	})
}
