package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
)

// ncConnID is the connection ID nc printed on stderr.
func ncConnID(t *testing.T, p *proc) string {
	t.Helper()
	out := p.stderr.waitFor(t, "\nconnection c")
	m := regexp.MustCompile(`\nconnection (c[a-z0-9]+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no connection ID in %q", out)
	}
	return m[1]
}

// inbound is the ID of b's inbound connection from a.
func (p pair) inbound(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, ok := inboundFrom(ctx, p.b, p.a.ID())
	if !ok {
		t.Fatal("bob lists no inbound connection from alice")
	}
	return id
}

// TestNCBetweenTwoNC runs nc to bob on alice's API and nc --id on bob's
// API over the same connection, both with API tokens: bytes flow both ways;
// bob's end of input ends alice's nc (its peer finished), and alice's nc
// closing its connection ends bob's.
func TestNCBetweenTwoNC(t *testing.T) {
	p := startPair(t, "tok")
	inA, toA := stdinPipe(t)
	inB, toB := stdinPipe(t)
	alice := startReachd(t, inA, "nc", "--api", p.apiA, "--api-token", "tok", "--strategies", "direct", p.b.Address())
	aliceConn := ncConnID(t, alice)
	if got := alice.stderr.String(); !strings.HasPrefix(got, "direct: trying\ndirect: ok ") {
		t.Errorf("progress on stderr = %q", got)
	}
	bob := startReachd(t, inB, "nc", "--api", p.apiB, "--api-token", "tok", "--id", p.inbound(t))

	io.WriteString(toA, "ping from alice\n")
	bob.stdout.waitFor(t, "ping from alice\n")
	io.WriteString(toB, "pong from bob\n")
	alice.stdout.waitFor(t, "pong from bob\n")

	toB.Close()
	if code := alice.wait(t); code != 0 {
		t.Errorf("alice's nc: exit code %d; stderr: %s", code, alice.stderr)
	}
	if code := bob.wait(t); code != 0 {
		t.Errorf("bob's nc: exit code %d; stderr: %s", code, bob.stderr)
	}
	if got := alice.stdout.String(); got != "pong from bob\n" {
		t.Errorf("alice's output = %q", got)
	}
	if got := bob.stdout.String(); got != "ping from alice\n" {
		t.Errorf("bob's output = %q", got)
	}
	if c, ok := p.a.Conn(aliceConn); !ok || c.State() != node.StateClosed {
		t.Errorf("alice's connection %s is not closed after nc", aliceConn)
	}
}

// TestNCEndOfInput: at the end of nc's stdin the peer reads EOF, and its
// answer, sent after that, still comes out of nc.
func TestNCEndOfInput(t *testing.T) {
	p := startPair(t, "")
	alice := startReachd(t, strings.NewReader("question"), "nc", "--api", p.apiA, p.b.Address())
	in := "http://" + p.apiB + "/v1/connections/" + p.inbound(t)

	var got []byte
	for {
		status, b := httpDo(t, "GET", in+"/recv?timeout_ms=10000", "")
		if status == http.StatusGone {
			break // alice's side ended
		}
		if status != http.StatusOK {
			t.Fatalf("recv: %d %s", status, b)
		}
		got = append(got, b...)
	}
	if string(got) != "question" {
		t.Errorf("bob read %q, want %q", got, "question")
	}
	if alice.exited() {
		t.Fatalf("nc ended before the answer; stderr: %s", alice.stderr)
	}
	if status, b := httpDo(t, "POST", in+"/send", "answer"); status != http.StatusOK {
		t.Fatalf("send: %d %s; nc's stderr: %s", status, b, alice.stderr)
	}
	if status, b := httpDo(t, "DELETE", in, ""); status != http.StatusOK {
		t.Fatalf("delete: %d %s", status, b)
	}
	if code := alice.wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr: %s", code, alice.stderr)
	}
	if got := alice.stdout.String(); got != "answer" {
		t.Errorf("nc wrote %q, want the answer", got)
	}
}

// TestNCInterrupted: a signal ends nc with exit code 1 and closes the
// connection it opened, but not one it attached to.
func TestNCInterrupted(t *testing.T) {
	p := startPair(t, "")
	in, toAlice := stdinPipe(t)
	alice := startReachd(t, in, "nc", "--api", p.apiA, p.b.Address())
	id := ncConnID(t, alice)
	inB, _ := stdinPipe(t)
	bobID := p.inbound(t)
	bob := startReachd(t, inB, "nc", "--api", p.apiB, "--id", bobID)
	// Both streams are up once bytes flow through them. (Alice's nc has
	// her connection: a send beside it would be refused, 409.)
	if _, err := toAlice.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	bob.stdout.waitFor(t, "hello")

	bob.cancel()
	if code := bob.wait(t); code != 1 || !strings.Contains(bob.stderr.String(), "reachd nc: interrupted") {
		t.Errorf("bob's nc: exit code %d, stderr %q; want 1, interrupted", code, bob.stderr)
	}
	if c, _ := p.b.Conn(bobID); c.State() != node.StateOpen {
		t.Errorf("bob's connection is %s after nc --id was interrupted, want open", c.State())
	}

	alice.cancel()
	if code := alice.wait(t); code != 1 {
		t.Errorf("alice's nc: exit code %d, want 1", code)
	}
	if c, _ := p.a.Conn(id); c.State() != node.StateClosed {
		t.Errorf("alice's connection is %s after nc was interrupted, want closed", c.State())
	}
}

func TestNCBadInput(t *testing.T) {
	p := startPair(t, "")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no address or id", nil, 2, "missing the peer's ADDRESS (or --id ID)"},
		{"address and id", []string{"--id", "c1", p.b.Address()}, 2, "either ADDRESS or --id"},
		{"malformed address", []string{"0-garbage-0-x-y"}, 2, "(HTTP 400)"},
		{"unknown id", []string{"--id", "cnope"}, 1, `no connection "cnope" (HTTP 404)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := reachd(t, nil, append([]string{"nc", "--api", p.apiA}, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit code %d, stderr %q; want %d and %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}

// httpDo sends a request without a token and returns the status and body.
func httpDo(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
