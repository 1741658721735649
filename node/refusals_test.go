package node_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/syncbuf"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// TestRefusedRequestFloodLogsOncePerSecond: a stranger that makes a node
// refuse it again and again writes about one log line a second, each
// counting those held back, not one line per refusal.
func TestRefusedRequestFloodLogsOncePerSecond(t *testing.T) {
	rv := rendezvoustest.Start(t)
	var logs syncbuf.Buffer
	stranger := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv, nodetest.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))), withConfig(func(c *node.Config) {
		c.Accept = node.AcceptAllowlist
	}))
	bAddr := mustParse(t, b.Address())
	start := time.Now()
	const tries = 30
	for range tries {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := stranger.ConnectWith(ctx, bAddr, node.ConnectOptions{Strategies: []string{node.StrategyReverse}, Fresh: true})
		cancel()
		if err == nil {
			t.Fatal("a stranger got past the allowlist")
		}
	}
	elapsed := time.Since(start)
	refused := b.Metrics().Refused[node.RefusedPolicy]
	if refused != tries {
		t.Fatalf("b refused %d requests, want %d", refused, tries)
	}
	lines, held := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg        string
			Peer       string
			Suppressed int
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "peer request refused" || rec.Peer != stranger.ID() {
			continue
		}
		lines++
		held += rec.Suppressed
	}
	// One at once, then about one a second.
	if max := 2 + int(elapsed/time.Second); lines > max || lines+held > tries || lines == 0 {
		t.Errorf("%d refusals in %v wrote %d log lines (holding back %d), want 1 to %d", tries, elapsed, lines, held, max)
	}
}
