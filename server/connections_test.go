package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/openapi/openapitest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// pair is two live nodes, each with its API.
type pair struct {
	a, b       *node.Node
	apiA, apiB string
}

func startPair(t *testing.T) pair {
	rv := rendezvoustest.Start(t)
	a, b := nodetest.Start(t, rv), nodetest.Start(t, rv)
	return pair{a, b, "http://" + startServer(t, Config{Node: a}).Addr(), "http://" + startServer(t, Config{Node: b}).Addr()}
}

// raw sends a request with a body of bytes (application/octet-stream), if
// any, and returns the status and body bytes. The exchange is checked
// against the OpenAPI document.
func raw(t *testing.T, method, url string, body io.Reader) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := openapitest.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// sendData posts data to a connection's send route and returns the status
// and the decoded answer.
func sendData(t *testing.T, api, id, data string) (int, map[string]any) {
	t.Helper()
	status, b := raw(t, "POST", api+"/v1/connections/"+id+"/send", strings.NewReader(data))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("send: body %q: %v", b, err)
	}
	return status, m
}

// inboundID waits for B to list an inbound connection and returns its ID.
func inboundID(t *testing.T, api string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, m, _ := call(t, "GET", api+"/v1/connections", "")
		for _, c := range m["connections"].([]any) {
			c := c.(map[string]any)
			if c["direction"] == "inbound" && c["state"] == "open" {
				return c["id"].(string)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no inbound connection listed")
	return ""
}

func TestConnectionsAPI(t *testing.T) {
	p := startPair(t)
	status, conn, h := call(t, "POST", p.apiA+"/v1/connections", `{"address":"`+p.b.Address()+`","strategies":["direct"]}`)
	if status != 201 {
		t.Fatalf("connect: %d %v", status, conn)
	}
	id := conn["id"].(string)
	if h.Get("Location") != "/v1/connections/"+id || conn["peer_id"] != p.b.ID() || conn["strategy"] != "direct" || conn["direction"] != "outbound" {
		t.Errorf("connection %v, location %q", conn, h.Get("Location"))
	}
	inID := inboundID(t, p.apiB)
	_, in, _ := call(t, "GET", p.apiB+"/v1/connections/"+inID, "")
	if in["peer_id"] != p.a.ID() || in["strategy"] != "direct" {
		t.Errorf("inbound %v", in)
	}

	// Nothing sent yet: 204.
	if status, _ := raw(t, "GET", p.apiB+"/v1/connections/"+inID+"/recv?timeout_ms=50", nil); status != 204 {
		t.Errorf("recv with nothing sent: %d, want 204", status)
	}
	status, sent := sendData(t, p.apiA, id, "hello, peer")
	if status != 200 || sent["sent"] != float64(11) {
		t.Fatalf("send: %d %v", status, sent)
	}
	var got []byte
	for len(got) < 11 {
		status, b := raw(t, "GET", p.apiB+"/v1/connections/"+inID+"/recv?timeout_ms=2000", nil)
		if status != 200 {
			t.Fatalf("recv: %d %s", status, b)
		}
		got = append(got, b...)
	}
	if string(got) != "hello, peer" {
		t.Errorf("received %q", got)
	}

	// The stream route: bytes both ways over a WebSocket.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if status, b := raw(t, "GET", p.apiB+"/v1/connections/"+inID+"/stream", nil); status != http.StatusUpgradeRequired {
		t.Errorf("stream without a WebSocket handshake: %d %s, want 426", status, b)
	}
	ws, _, err := websocket.Dial(ctx, strings.Replace(p.apiB, "http", "ws", 1)+"/v1/connections/"+inID+"/stream",
		&websocket.DialOptions{HTTPClient: openapitest.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageBinary, []byte("from the browser")); err != nil {
		t.Fatal(err)
	}
	got = nil
	for len(got) < 16 {
		status, b := raw(t, "GET", p.apiA+"/v1/connections/"+id+"/recv?timeout_ms=2000", nil)
		if status != 200 {
			t.Fatalf("recv: %d %s", status, b)
		}
		got = append(got, b...)
	}
	if string(got) != "from the browser" {
		t.Errorf("received %q", got)
	}
	sendData(t, p.apiA, id, "to the browser")
	if _, b, err := ws.Read(ctx); err != nil || string(b) != "to the browser" {
		t.Errorf("websocket read %q, %v", b, err)
	}

	// Half-close from the WebSocket: an empty message ends B's side; A reads
	// the end of the stream and can still send.
	if err := ws.Write(ctx, websocket.MessageBinary, nil); err != nil {
		t.Fatal(err)
	}
	if status, b := raw(t, "GET", p.apiA+"/v1/connections/"+id+"/recv?timeout_ms=5000", nil); status != 410 {
		t.Errorf("recv after the peer's half-close: %d %s, want 410", status, b)
	}
	sendData(t, p.apiA, id, "after your end")
	if _, b, err := ws.Read(ctx); err != nil || string(b) != "after your end" {
		t.Errorf("websocket read after half-close %q, %v", b, err)
	}

	// Closing on A: B's WebSocket gets the end of the peer's stream (an
	// empty message), then closes normally, and B's recv answers 410.
	if status, m, _ := call(t, "DELETE", p.apiA+"/v1/connections/"+id, ""); status != 200 || m["state"] != "closed" {
		t.Fatalf("delete: %d %v", status, m)
	}
	if _, b, err := ws.Read(ctx); err != nil || len(b) != 0 {
		t.Errorf("websocket after the peer closed: %q %v, want the empty end-of-stream message", b, err)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("websocket after the peer closed: %v, want a normal closure", err)
	}
	if status, _ := raw(t, "GET", p.apiB+"/v1/connections/"+inID+"/recv?timeout_ms=2000", nil); status != 410 {
		t.Errorf("recv after the peer closed: %d, want 410", status)
	}
	if status, _ := raw(t, "POST", p.apiA+"/v1/connections/"+id+"/send", strings.NewReader("x")); status != 410 {
		t.Errorf("send on a closed connection: %d, want 410", status)
	}
	_, _, err = websocket.Dial(ctx, strings.Replace(p.apiA, "http", "ws", 1)+"/v1/connections/"+id+"/stream",
		&websocket.DialOptions{HTTPClient: openapitest.Client(t)})
	if err == nil || !strings.Contains(err.Error(), "410") {
		t.Errorf("stream of a closed connection: %v, want 410", err)
	}
}

func TestConnectionsAPIErrors(t *testing.T) {
	p := startPair(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	forged, _ := address.Parse(p.b.Address())
	forged.NodeID = identity.NodeIDFromKey(pub)

	status, m, h := call(t, "POST", p.apiA+"/v1/connections", `{"address":"`+forged.String()+`","strategies":["direct"]}`)
	if status != 502 || h.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("forged peer: %d %v", status, m)
	}
	attempts, _ := m["attempts"].([]any)
	if len(attempts) != 1 {
		t.Fatalf("attempts %v, want one", m["attempts"])
	}
	if a := attempts[0].(map[string]any); a["name"] != "direct" || a["outcome"] != "failed" || !strings.Contains(a["reason"].(string), "another node's key") {
		t.Errorf("attempt %v", a)
	}

	for _, tt := range []struct{ name, body, want string }{
		{"unknown strategy", `{"address":"` + p.b.Address() + `","strategies":["teleport"]}`, `unknown strategy "teleport"`},
		{"repeated strategy", `{"address":"` + p.b.Address() + `","strategies":["direct","direct"]}`, "twice"},
		{"self", `{"address":"` + p.a.Address() + `"}`, "own"},
		{"bad address", `{"address":"0-0-0-x-y"}`, "node id"},
		{"timeout too long", `{"address":"` + p.b.Address() + `","timeout_ms":999999999}`, "timeout_ms"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, m, _ := call(t, "POST", p.apiA+"/v1/connections", tt.body)
			if d, _ := m["detail"].(string); status != 400 || !strings.Contains(d, tt.want) {
				t.Errorf("%d %v, want 400 containing %q", status, m, tt.want)
			}
		})
	}
	for _, path := range []string{"/v1/connections/nope", "/v1/connections/nope/recv", "/v1/connections/nope/stream"} {
		if status, _ := raw(t, "GET", p.apiA+path, nil); status != 404 {
			t.Errorf("GET %s: %d, want 404", path, status)
		}
	}
	if status, _ := raw(t, "DELETE", p.apiA+"/v1/connections/nope", nil); status != 404 {
		t.Errorf("DELETE unknown: %d, want 404", status)
	}
	if status, _ := raw(t, "POST", p.apiA+"/v1/connections/nope/send", bytes.NewReader([]byte("x"))); status != 404 {
		t.Errorf("send to unknown: %d, want 404", status)
	}
	if status, b := raw(t, "GET", p.apiA+"/v1/connections/x/recv?max=0", nil); status != 404 {
		t.Errorf("recv bad max on unknown: %d %s", status, b)
	}
}
