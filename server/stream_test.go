package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/openapi/openapitest"
)

// connectPair connects A to B through A's API and returns the connection's
// ID on each side.
func connectPair(t *testing.T, p pair) (idA, idB string) {
	t.Helper()
	status, conn, _ := call(t, "POST", p.apiA+"/v1/connections", `{"address":"`+p.b.Address()+`","strategies":["direct"]}`)
	if status != 201 {
		t.Fatalf("connect: %d %v", status, conn)
	}
	return conn["id"].(string), inboundID(t, p.apiB)
}

// waitArrived waits until B's connection has received at least n bytes
// and has stopped receiving (its inbox is full or everything came).
func waitArrived(t *testing.T, api, id string, n float64) {
	t.Helper()
	last := -1.0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, m, _ := call(t, "GET", api+"/v1/connections/"+id, "")
		got := m["bytes_received"].(float64)
		if got >= n && got == last {
			return
		}
		last = got
	}
	t.Fatalf("%v bytes received after 10s, want %v", last, n)
}

func TestRecvReturnsWhatArrived(t *testing.T) {
	p := startPair(t)
	idA, idB := connectPair(t, p)
	data := make([]byte, 1<<20)
	rand.Read(data)
	if status, b := raw(t, "POST", p.apiA+"/v1/connections/"+idA+"/send", bytes.NewReader(data)); status != 200 {
		t.Fatalf("send: %d %s", status, b)
	}
	waitArrived(t, p.apiB, idB, 256<<10)

	// One recv takes every chunk that has arrived, not one.
	status, got := raw(t, "GET", p.apiB+"/v1/connections/"+idB+"/recv?max=1048576", nil)
	if status != 200 || len(got) < 256<<10 {
		t.Fatalf("recv after the peer sent 1 MiB: %d with %d bytes, want 200 with at least 256 KiB", status, len(got))
	}
	t.Logf("one recv returned %d bytes", len(got))
	for len(got) < len(data) {
		status, b := raw(t, "GET", p.apiB+"/v1/connections/"+idB+"/recv?max=1048576&timeout_ms=5000", nil)
		if status != 200 {
			t.Fatalf("recv after %d bytes: %d %s", len(got), status, b)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("received bytes differ from those sent")
	}
	// max still bounds what one recv returns.
	sendData(t, p.apiA, idA, "0123456789")
	waitArrived(t, p.apiB, idB, 1<<20+10)
	if status, b := raw(t, "GET", p.apiB+"/v1/connections/"+idB+"/recv?max=4", nil); status != 200 || string(b) != "0123" {
		t.Errorf("recv with max=4: %d %q, want \"0123\"", status, b)
	}
}

// TestStreamLetsGoWhenTheClientGoes: a WebSocket client that goes away
// while bytes flow to it frees the stream for the next one at once, even
// while the server waits for more bytes with a buffer in hand (here for
// an hour, so that only the client's going can end that wait).
func TestStreamLetsGoWhenTheClientGoes(t *testing.T) {
	old := flowWait
	t.Cleanup(func() { flowWait = old }) // after the pair's cleanup, which stops the servers
	flowWait = time.Hour
	p := startPair(t)
	idA, idB := connectPair(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(p.apiB, "http") + "/v1/connections/" + idB + "/stream"
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	sendData(t, p.apiA, idA, "flowing")
	if _, msg, err := ws.Read(ctx); err != nil || string(msg) != "flowing" {
		t.Fatalf("read: %q, %v", msg, err)
	}
	ws.CloseNow()
	// The server may take a moment to see the client go; then the next
	// client gets the stream.
	for {
		ws, resp, err := websocket.Dial(ctx, url, nil)
		if err == nil {
			ws.CloseNow()
			return
		}
		if ctx.Err() != nil || resp == nil || resp.StatusCode != http.StatusConflict {
			t.Fatalf("a second client after the first went: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestStreamMovesLargeMessages(t *testing.T) {
	p := startPair(t)
	idA, idB := connectPair(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The peer's bytes that arrived before the client reads go out as one
	// message, not one per chunk.
	toClient := make([]byte, 1<<20)
	rand.Read(toClient)
	if status, b := raw(t, "POST", p.apiA+"/v1/connections/"+idA+"/send", bytes.NewReader(toClient)); status != 200 {
		t.Fatalf("send: %d %s", status, b)
	}
	waitArrived(t, p.apiB, idB, 256<<10)
	ws, _, err := websocket.Dial(ctx, strings.Replace(p.apiB, "http", "ws", 1)+"/v1/connections/"+idB+"/stream",
		&websocket.DialOptions{HTTPClient: openapitest.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	var got []byte
	for len(got) < len(toClient) {
		typ, b, err := ws.Read(ctx)
		if err != nil || typ != websocket.MessageBinary {
			t.Fatalf("websocket read after %d bytes: %v %v", len(got), typ, err)
		}
		if len(got) == 0 && len(b) < 256<<10 {
			t.Errorf("first message: %d bytes, want what had arrived (at least 256 KiB)", len(b))
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, toClient) {
		t.Error("the client received bytes that differ from those sent")
	}

	// Messages from the client, up to the 1 MiB limit, arrive whole.
	fromClient := make([]byte, 1<<20+3)
	rand.Read(fromClient)
	for _, m := range [][]byte{fromClient[:1], fromClient[1:3], fromClient[3:]} {
		if err := ws.Write(ctx, websocket.MessageBinary, m); err != nil {
			t.Fatal(err)
		}
	}
	got = nil
	for len(got) < len(fromClient) {
		status, b := raw(t, "GET", p.apiA+"/v1/connections/"+idA+"/recv?max=1048576&timeout_ms=5000", nil)
		if status != 200 {
			t.Fatalf("recv after %d bytes: %d %s", len(got), status, b)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, fromClient) {
		t.Error("the peer received bytes that differ from those the client sent")
	}

	// Over the limit: the WebSocket closes with 1009.
	if err := ws.Write(ctx, websocket.MessageBinary, make([]byte, 1<<20+1)); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
				t.Errorf("after a message over 1 MiB: %v, want close status 1009", err)
			}
			break
		}
	}
}

// TestAbortIsNotAnEnd: when the peer aborts a connection, POST /send
// fails with connection-aborted (its count in sent) and GET /recv answers
// 502 connection-aborted with the peer's reason, never 410.
func TestAbortIsNotAnEnd(t *testing.T) {
	p := startPair(t)
	idA, idB := connectPair(t, p)
	in, ok := p.b.Conn(idB)
	if !ok {
		t.Fatal("b lost its connection")
	}
	in.Abort("the test aborts it")
	out, _ := p.a.Conn(idA)
	select {
	case <-out.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a never heard of the abort")
	}
	status, m := sendData(t, p.apiA, idA, "after the abort")
	if status != http.StatusBadGateway || !strings.HasSuffix(fmt.Sprint(m["type"]), "/connection-aborted") || m["sent"] != 0.0 || m["by_peer"] != true {
		t.Errorf("send after the abort: %d %v, want 502 connection-aborted by the peer, sent 0", status, m)
	}
	status, body := raw(t, "GET", p.apiA+"/v1/connections/"+idA+"/recv?timeout_ms=0", nil)
	if status != http.StatusBadGateway || !strings.Contains(string(body), "the test aborts it") {
		t.Errorf("recv after the abort: %d %s, want 502 with the peer's reason", status, body)
	}
}
