package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
)

func TestConnect(t *testing.T) {
	p := startPair(t, "")
	unknownPeer := forged(t, p.b.Address(), 1, true)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // line patterns, in order, the whole output
		anyOrder bool     // stdout lines may come in any order
		stderr   string   // pattern in stderr
	}{
		{
			name: "direct",
			args: []string{p.b.Address(), "--strategies", "direct"},
			stdout: []string{
				`direct: trying`,
				`direct: ok \d+ms`,
				`  tcp_established \d+ms, tls_done \d+ms, committed \d+ms`,
				`connected to ` + p.b.ID() + ` via direct`,
				`connection c[a-z0-9]+`,
			},
		},
		{
			name: "first strategy fails, the next connects",
			// Bob's own ID on a port nobody listens on: direct is refused,
			// bob dials back.
			args: []string{"--fresh", "--strategies", "direct,reverse", "--timeout", "10s", forged(t, p.b.Address(), 1, false)},
			stdout: []string{
				`direct: trying`,
				`direct: failed \(.*connection refused.*\) \d+ms`,
				`reverse: trying`,
				`reverse: ok \d+ms`,
				`  signaling_sent \d+ms, tcp_established \d+ms, tls_done \d+ms, committed \d+ms`,
				`connected to ` + p.b.ID() + ` via reverse`,
				`connection c[a-z0-9]+`,
			},
			anyOrder: true, // raced: both start at once
		},
		{
			name: "unreachable peer",
			args: []string{"--strategies", "direct", unknownPeer},
			code: 1,
			stdout: []string{
				`direct: trying`,
				`direct: failed \(.*connection refused.*\) \d+ms`,
			},
			stderr: `(?s)^reachd connect: no strategy connected to [a-z0-9]+: no strategy made a path \(direct: refused\)\nattempts:\n  direct: failed \(.*connection refused.*\) \d+ms\n$`,
		},
		{
			name: "unreachable peer, later strategies run out of time",
			// Nobody answers the reverse request: it takes all the time.
			args:   []string{"--strategies", "reverse,relay", "--timeout", "50ms", unknownPeer},
			code:   1,
			stdout: []string{`reverse: trying`, `reverse: failed \(timed out.*\) \d+ms`, `  signaling_sent \d+ms`, `relay: skipped \(connect timed out before it was tried\)`},
			// The race reports outcomes as they come: the relay's skip
			// and the reverse's failure come at the same moment.
			anyOrder: true,
			stderr:   `: the peer did not answer over signaling: it is offline or shares no broker with us\nattempts:\n  reverse: failed \(timed out.*\) \d+ms\n  relay: skipped \(connect timed out before it was tried\)\n$`,
		},
		{
			name:   "malformed address",
			args:   []string{"0-[4,0,nonsense]-x"},
			code:   2,
			stderr: `^reachd connect: address: .* \(HTTP 400\)\n$`,
		},
		{
			name:   "unknown strategy",
			args:   []string{"--strategies", "teleport", p.b.Address()},
			code:   2,
			stderr: `strategies: unknown strategy "teleport"`,
		},
		{
			name:   "own address",
			args:   []string{p.a.Address()},
			code:   2,
			stderr: `own \(HTTP 400\)`,
		},
		{
			name:   "timeout above the API's limit",
			args:   []string{"--timeout", "10m", p.b.Address()},
			code:   2,
			stderr: `timeout_ms 600000: want 1 to 120000 \(HTTP 400\)`,
		},
		{
			name:   "no address",
			args:   nil,
			code:   2,
			stderr: `missing the peer's ADDRESS`,
		},
		{
			name:   "two addresses",
			args:   []string{p.b.Address(), p.b.Address()},
			code:   2,
			stderr: `unexpected argument`,
		},
		{
			name:   "bad timeout",
			args:   []string{"--timeout", "0s", p.b.Address()},
			code:   2,
			stderr: `--timeout 0s: want at least 1ms`,
		},
		{
			name:   "bad api",
			args:   []string{"--api", "nohostport", p.b.Address()},
			code:   2,
			stderr: `--api "nohostport"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"connect", "--api", p.apiA}, tt.args...)
			code, out, errOut := reachd(t, nil, args...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			if tt.stdout != nil {
				got := lines(out)
				if len(got) != len(tt.stdout) {
					t.Fatalf("stdout has %d lines, want %d:\n%s", len(got), len(tt.stdout), out)
				}
				for i, pat := range tt.stdout {
					re := regexp.MustCompile(`^` + pat + `$`)
					if tt.anyOrder {
						if !slices.ContainsFunc(got, re.MatchString) {
							t.Errorf("no line matches %s:\n%s", pat, out)
						}
					} else if !re.MatchString(got[i]) {
						t.Errorf("line %d = %q, want %s", i+1, got[i], pat)
					}
				}
			}
			if tt.stderr != "" && !regexp.MustCompile(tt.stderr).MatchString(errOut) {
				t.Errorf("stderr %q does not match %s", errOut, tt.stderr)
			}
			if code == 0 {
				// The connection it names is open on the node.
				id := strings.TrimPrefix(lines(out)[len(lines(out))-1], "connection ")
				c, ok := p.a.Conn(id)
				if !ok || c.State() != node.StateOpen || c.PeerID() != p.b.ID() {
					t.Errorf("connection %q not open to bob on the node", id)
				}
			}
		})
	}
}

func TestFormatAttempt(t *testing.T) {
	tests := []struct {
		name string
		a    node.Attempt
		want string
	}{
		{"trying", node.Attempt{Name: "direct", Outcome: "trying"}, "direct: trying"},
		{"ok", node.Attempt{Name: "reverse", Outcome: "ok", MS: 41}, "reverse: ok 41ms"},
		{"failed", node.Attempt{Name: "direct", Outcome: "failed", Reason: "timed out", MS: 2003}, "direct: failed (timed out) 2003ms"},
		{"skipped", node.Attempt{Name: "relay", Outcome: "skipped", Reason: "no time left"}, "relay: skipped (no time left)"},
		{"unknown outcome", node.Attempt{Name: "punch", Outcome: "odd", MS: 3}, "punch: odd 3ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatAttempt(tt.a); got != tt.want {
				t.Errorf("formatAttempt = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProgress(t *testing.T) {
	try := func(s string) node.Attempt { return node.Attempt{Name: s, Outcome: "trying"} }
	fail := node.Attempt{Name: "direct", Outcome: "failed", Reason: "refused", MS: 1}
	ok := node.Attempt{Name: "reverse", Outcome: "ok", MS: 9}
	skip := node.Attempt{Name: "relay", Outcome: "skipped", Reason: "no time"}
	answer := []node.Attempt{fail, ok}
	want := "direct: trying\ndirect: failed (refused) 1ms\nreverse: trying\nreverse: ok 9ms\n"
	tests := []struct {
		name       string
		strategies []string
		events     []node.Attempt
		answer     []node.Attempt
		want       string
	}{
		{"every event streamed", []string{"direct", "reverse"}, []node.Attempt{try("direct"), fail, try("reverse"), ok}, answer, want},
		{"default order", nil, []node.Attempt{try("direct"), fail, try("reverse"), ok}, answer, want},
		{"the last outcome only in the answer", []string{"direct", "reverse"}, []node.Attempt{try("direct"), fail, try("reverse")}, answer, want},
		{"stream began late", []string{"direct", "reverse"}, []node.Attempt{try("reverse"), ok}, answer, want},
		{"stream missed everything", []string{"direct", "reverse"}, nil, answer, want},
		{"skipped strategies have no trying", []string{"direct", "relay"}, []node.Attempt{try("direct"), fail},
			[]node.Attempt{fail, skip}, "direct: trying\ndirect: failed (refused) 1ms\nrelay: skipped (no time)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			p := newProgress(&b, tt.strategies)
			for _, a := range tt.events {
				p.event(a)
			}
			for _, a := range tt.answer {
				p.print(a)
			}
			if b.String() != tt.want {
				t.Errorf("printed\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// TestConnectProgressIsLive: a strategy's "trying" shows while it runs,
// before the node has its outcome.
func TestConnectProgressIsLive(t *testing.T) {
	p := startPair(t, "")
	unknownPeer := forged(t, p.b.Address(), 1, true)
	peer, err := address.Parse(unknownPeer)
	if err != nil {
		t.Fatal(err)
	}
	// The API's event stream takes its starting point just after it
	// answers, so a node that begins at once can beat it; connect then
	// prints everything from the answer. That is rare: try up to 3 times.
	for range 3 {
		c := startReachd(t, nil, "connect", "--api", p.apiA, "--strategies", "reverse", "--timeout", "1s", unknownPeer)
		if !c.stdout.waitAny(c.done) || attemptEnded(p.a, peer.NodeID) {
			c.wait(t)
			t.Logf("output came only with the outcome:\n%s", c.stdout)
			continue
		}
		if got := c.stdout.String(); got != "reverse: trying\n" {
			t.Fatalf("while connecting, output = %q, want reverse: trying", got)
		}
		if code := c.wait(t); code != 1 {
			t.Fatalf("exit code %d, want 1", code)
		}
		return
	}
	t.Fatal("no progress shown while connecting in 3 tries")
}

// attemptEnded reports whether n has an attempt outcome towards peer.
func attemptEnded(n *node.Node, peer string) bool {
	evs, _, _ := n.Events(0)
	for _, ev := range evs {
		if ev.Attempt != nil && ev.Attempt.Peer == peer && ev.Attempt.Outcome != "trying" {
			return true
		}
	}
	return false
}

// TestConnectErrorWithoutAttempts: a connect that failed without attempts
// of its own (it waited for another connect's race) says why.
func TestConnectErrorWithoutAttempts(t *testing.T) {
	e := &connectError{peer: "p", detail: "no strategy reached p (another connect to the peer was racing for a path, and this one's time ran out first)"}
	if got, want := e.Error(), "no strategy connected to p: "+e.detail; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	e.attempts = []node.Attempt{{Name: "direct", Outcome: node.OutcomeFailed, Reason: "refused"}}
	if got := e.Error(); strings.Contains(got, "racing") || !strings.Contains(got, "direct: failed (refused)") {
		t.Errorf("with attempts: %q, want the attempts and not the detail", got)
	}
}
