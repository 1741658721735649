package main

import (
	"bytes"
	"net/http"
	"testing"
)

// TestNCEndOfInputWhilePeerSends: what the peer sends while nc's input
// ends must all come out. It does not yet: closing the WebSocket is how nc
// ends its side, and both ends of a coder/websocket close drop data in
// flight (the server's chunk being written, the client's close handshake
// discarding what it reads). Fixing it needs a half-close signal that
// keeps the WebSocket open (see the cmd/reachd report).
func TestNCEndOfInputWhilePeerSends(t *testing.T) {
	t.Skip("known: a WebSocket close loses the peer's bytes in flight (about 4 runs in 5 lose one 16 KiB message)")
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
