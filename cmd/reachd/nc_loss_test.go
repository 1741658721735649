package main

import (
	"bytes"
	"net/http"
	"testing"
)

// TestNCEndOfInputWhilePeerSends: what the peer sends while nc's input
// ends must all come out. nc ends its side with the stream's empty message,
// which keeps the WebSocket open until the peer's side ends too (closing
// the WebSocket instead lost a message in flight about 4 runs in 5).
func TestNCEndOfInputWhilePeerSends(t *testing.T) {
	p := startPair(t, "")
	in, toA := stdinPipe(t)
	alice := startReachd(t, in, "nc", "--api", p.apiA, "--strategies", "direct", p.b.Address())
	ncConnID(t, alice)
	bob := "http://" + p.apiB + "/v1/connections/" + p.inbound(t)
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	const n = 200
	for i := range n {
		if i == n/2 {
			toA.Close()
		}
		if status, b := httpDo(t, "POST", bob+"/send", string(chunk)); status != http.StatusOK {
			t.Fatalf("send %d: %d %s", i, status, b)
		}
	}
	httpDo(t, "DELETE", bob, "")
	if code := alice.wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr: %s", code, alice.stderr)
	}
	if got := len(alice.stdout.String()); got != n*len(chunk) {
		t.Errorf("nc wrote %d bytes, want %d", got, n*len(chunk))
	}
}
