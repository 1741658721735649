package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/reachd/reachd/node"
)

func TestPing(t *testing.T) {
	p := startPair(t, "")

	t.Run("text", func(t *testing.T) {
		code, out, errOut := reachd(t, nil, "ping", "--api", p.apiA, "-c", "3", "--strategies", "direct", p.b.Address())
		if code != 0 {
			t.Fatalf("exit code %d; stderr: %s", code, errOut)
		}
		// The race for a path first, then a line per round trip.
		want := regexp.MustCompile(`^direct: ok \d+ms\n(pong from ` + regexp.QuoteMeta(shortID(p.b.ID())) + ` via direct in \d+\.\d\dms\n){3}$`)
		if !want.MatchString(out) {
			t.Errorf("output:\n%s\nwant %s", out, want)
		}
	})
	t.Run("json", func(t *testing.T) {
		code, out, errOut := reachd(t, nil, "ping", "--api", p.apiA, "-c", "2", "--json", p.b.Address())
		if code != 0 {
			t.Fatalf("exit code %d; stderr: %s", code, errOut)
		}
		var res node.PingResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if res.PeerID != p.b.ID() || res.Strategy != "direct" || len(res.Pings) != 2 || len(res.Attempts) != 0 {
			t.Errorf("ping --json = %+v, want 2 round trips over the link's direct path", res)
		}
	})
	t.Run("silent peer", func(t *testing.T) {
		code, _, errOut := reachd(t, nil, "ping", "--api", p.apiA, "--strategies", "reverse", "--timeout", "500ms", forged(t, p.b.Address(), 1, true))
		if code != 1 {
			t.Fatalf("exit code %d, want 1; stderr: %s", code, errOut)
		}
		if !strings.Contains(strings.SplitN(errOut, "\n", 2)[0], "the peer did not answer over signaling: it is offline or shares no broker with us") {
			t.Errorf("stderr does not start with the verdict:\n%s", errOut)
		}
	})
	t.Run("bad count", func(t *testing.T) {
		code, _, errOut := reachd(t, nil, "ping", "--api", p.apiA, "-c", "0", p.b.Address())
		if code != 2 || !strings.Contains(errOut, "-c 0: want 1 to 100") {
			t.Errorf("exit code %d; stderr: %s", code, errOut)
		}
	})
}

func TestConnectJSON(t *testing.T) {
	p := startPair(t, "")
	code, out, errOut := reachd(t, nil, "connect", "--api", p.apiA, "--json", "--strategies", "direct", p.b.Address())
	if code != 0 {
		t.Fatalf("exit code %d; stderr: %s", code, errOut)
	}
	var info node.ConnInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("not JSON (no progress lines with --json): %v\n%s", err, out)
	}
	if info.PeerID != p.b.ID() || info.Strategy != "direct" || !strings.HasPrefix(info.ID, "c") {
		t.Errorf("connect --json = %+v", info)
	}
}
