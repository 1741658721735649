package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/openapi/openapitest"
)

// TestSecondConsumerConflicts: while a WebSocket stream has a connection,
// a second WebSocket, a recv and a send are refused with 409 instead of
// each seeing a stream with holes; once it closes, recv works again. Two
// recv requests at once are refused the same way.
func TestSecondConsumerConflicts(t *testing.T) {
	p := startPair(t)
	idA, _ := connectPair(t, p)
	base := p.apiA + "/v1/connections/" + idA
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wsURL := strings.Replace(base, "http", "ws", 1) + "/stream"
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: openapitest.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: openapitest.Client(t)}); err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
		t.Errorf("second WebSocket: %v %v, want 409", resp, err)
	}
	if status, body := raw(t, "GET", base+"/recv?timeout_ms=0", nil); status != http.StatusConflict || !strings.Contains(string(body), "connection-busy") {
		t.Errorf("recv beside a WebSocket: %d %s, want 409 connection-busy", status, body)
	}
	if status, _ := sendData(t, p.apiA, idA, "x"); status != http.StatusConflict {
		t.Errorf("send beside a WebSocket: %d, want 409", status)
	}
	ws.Close(websocket.StatusNormalClosure, "")

	// The WebSocket's claim goes with it; recv works again. (Closing it
	// normally ended our direction, so the connection is half-closed.)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _ := raw(t, "GET", base+"/recv?timeout_ms=0", nil)
		if status == http.StatusNoContent {
			break
		}
		if status != http.StatusConflict || time.Now().After(deadline) {
			t.Fatalf("recv after the WebSocket closed: %d, want 204", status)
		}
		time.Sleep(10 * time.Millisecond) // the server's handler is still returning
	}

	waiting := make(chan int)
	go func() {
		status, _ := raw(t, "GET", base+"/recv?timeout_ms=3000", nil)
		waiting <- status
	}()
	for {
		status, body := raw(t, "GET", base+"/recv?timeout_ms=0", nil)
		if status == http.StatusConflict {
			if !strings.Contains(string(body), "connection-busy") {
				t.Errorf("second recv: %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a second recv beside a waiting one was never refused")
		}
	}
	if status := <-waiting; status != http.StatusNoContent {
		t.Errorf("the waiting recv: %d, want 204", status)
	}
}
