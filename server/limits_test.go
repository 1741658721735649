package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// rawConn is a client connection to the API that speaks HTTP/1.1 by hand,
// so a test sees exactly what the server does with the connection.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A bound on every wait, so a test that would hang fails instead.
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// do sends a request and reads the answer, body included.
func (rc *rawConn) do(method, target string, header ...string) (*http.Response, []byte) {
	rc.t.Helper()
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, target)
	for _, h := range header {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(rc.c, req+"\r\n"); err != nil {
		rc.t.Fatalf("%s %s: write: %v", method, target, err)
	}
	return rc.read(method)
}

func (rc *rawConn) read(method string) (*http.Response, []byte) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("read answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("read body: %v", err)
	}
	return resp, b
}

// waitClosed reads until the server closes the connection; it fails the
// test if the server sends anything or the deadline passes first.
func (rc *rawConn) waitClosed() {
	rc.t.Helper()
	b, err := rc.br.ReadByte()
	switch {
	case err == nil:
		rc.t.Fatalf("read %q, want the connection closed", b)
	case errors.Is(err, os.ErrDeadlineExceeded):
		rc.t.Fatal("the connection is still open")
	case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset"):
		rc.t.Fatalf("read: %v, want the connection closed", err)
	}
}

func TestIdleConnectionIsClosed(t *testing.T) {
	s := startServer(t, Config{IdleTimeout: 200 * time.Millisecond})
	rc := dialRaw(t, s.Addr())
	if resp, b := rc.do("GET", "/v1/node"); resp.StatusCode != 200 {
		t.Fatalf("GET /v1/node: %d %s", resp.StatusCode, b)
	}
	rc.waitClosed()
}

// TestUnauthorizedIdleConnectionIsClosed: a client that only got 401 does
// not keep its connection either.
func TestUnauthorizedIdleConnectionIsClosed(t *testing.T) {
	s := startServer(t, Config{Token: "s3cret", IdleTimeout: 200 * time.Millisecond})
	rc := dialRaw(t, s.Addr())
	if resp, b := rc.do("GET", "/v1/node"); resp.StatusCode != 401 {
		t.Fatalf("GET /v1/node without token: %d %s", resp.StatusCode, b)
	}
	rc.waitClosed()
}

// TestSilentConnectionIsClosed: a connection that never sends a request is
// closed after the header timeout.
func TestSilentConnectionIsClosed(t *testing.T) {
	s := startServer(t, Config{HeaderTimeout: 200 * time.Millisecond})
	dialRaw(t, s.Addr()).waitClosed()
}

// TestConnectionCap opens one connection more than the cap: it is closed
// at once and counted, the others are served, and a place freed is taken.
func TestConnectionCap(t *testing.T) {
	const max = 3
	s := startServer(t, Config{MaxConns: max})
	var held []*rawConn
	for range max {
		rc := dialRaw(t, s.Addr())
		if resp, b := rc.do("GET", "/v1/node"); resp.StatusCode != 200 {
			t.Fatalf("GET /v1/node: %d %s", resp.StatusCode, b)
		}
		held = append(held, rc)
	}
	dialRaw(t, s.Addr()).waitClosed()

	resp, b := held[0].do("GET", "/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	for _, want := range []string{fmt.Sprintf("reachd_api_connections %d\n", max), "reachd_api_connections_refused_total 1\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}

	// A place is freed before the connection is closed: once the server
	// has closed one, a new connection is served.
	if resp, b := held[1].do("GET", "/v1/node", "Connection: close"); resp.StatusCode != 200 {
		t.Fatalf("GET /v1/node: %d %s", resp.StatusCode, b)
	}
	held[1].waitClosed()
	if resp, b := dialRaw(t, s.Addr()).do("GET", "/v1/node"); resp.StatusCode != 200 {
		t.Fatalf("after a close: %d %s", resp.StatusCode, b)
	}
}

// problemAnswer checks that resp is a problem with status and a detail
// containing want.
func problemAnswer(t *testing.T, resp *http.Response, body []byte, status int, want string) {
	t.Helper()
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%d %s: %q, want a problem", resp.StatusCode, ct, body)
		return
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Errorf("body %q: %v", body, err)
	}
	if resp.StatusCode != status || p.Status != status || !strings.Contains(p.Detail, want) {
		t.Errorf("%d %+v, want %d naming %q", resp.StatusCode, p, status, want)
	}
	if status == 400 && p.Type != problemType("bad-request") {
		t.Errorf("type %q, want bad-request", p.Type)
	}
}

// TestUnreadableRequestsAreProblems sends requests that net/http refuses
// before any handler sees them.
func TestUnreadableRequestsAreProblems(t *testing.T) {
	s := startServer(t, Config{})
	for _, tt := range []struct {
		name, request string
		status        int
		want          string
	}{
		{"bad percent-escape", "GET /v1/connections/%zz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "percent-escape"},
		{"bad percent-escape at the end", "GET /static/a% HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "percent-escape"},
		{"no request line", "NONSENSE\r\n\r\n", 400, "malformed request line"},
		{"no host", "GET /v1/node HTTP/1.1\r\n\r\n", 400, "missing required Host header"},
		{"unknown transfer coding", "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "transfer encoding"},
		{"unknown expectation", "GET /v1/node HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: tea\r\n\r\n", 417, "Expect"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, s.Addr())
			io.WriteString(rc.c, tt.request)
			resp, b := rc.read("GET")
			problemAnswer(t, resp, b, tt.status, tt.want)
			rc.waitClosed()
		})
	}
}

// TestHeaderTooLarge sends a header over the limit: 431, as a problem.
func TestHeaderTooLarge(t *testing.T) {
	s := startServer(t, Config{})
	rc := dialRaw(t, s.Addr())
	// Write while the answer is read: the server stops reading early.
	go fmt.Fprintf(rc.c, "GET /v1/node HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 2<<20))
	resp, b := rc.read("GET")
	problemAnswer(t, resp, b, 431, "request header larger than")

	// A header under the limit is served.
	rc = dialRaw(t, s.Addr())
	if resp, b := rc.do("GET", "/v1/node", "X-Big: "+strings.Repeat("a", 32<<10)); resp.StatusCode != 200 {
		t.Errorf("32 KiB header: %d %s", resp.StatusCode, b)
	}
}

// TestAnswersAreNotRewritten: what a handler writes is never taken for
// net/http's own error answer, even when it looks like one.
func TestAnswersAreNotRewritten(t *testing.T) {
	canned := "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"
	for _, answering := range []bool{false, true} {
		client, server := net.Pipe()
		c := &apiConn{Conn: server, l: &limitListener{maxHeaderBytes: maxHeaderBytes}}
		c.answering.Store(answering)
		go func() {
			c.Write([]byte(canned))
			c.Close()
		}()
		got, _ := io.ReadAll(client)
		if rewritten := string(got) != canned; rewritten == answering {
			t.Errorf("answering %v: wrote %q", answering, got)
		}
	}
	// A handler's own problem keeps its type.
	s := startServer(t, Config{})
	rc := dialRaw(t, s.Addr())
	resp, b := rc.do("GET", "/v1/connections/nope")
	if resp.StatusCode != 404 || !strings.Contains(string(b), problemType("no-connection")) {
		t.Errorf("%d %s, want the handler's no-connection problem", resp.StatusCode, b)
	}
}

// TestWebSocketCountsAgainstCap: a WebSocket stream (a hijacked
// connection) holds its place while it is open and frees it when closed.
func TestWebSocketCountsAgainstCap(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a, b := nodetest.Start(t, rv), nodetest.Start(t, rv)
	s := startServer(t, Config{Node: a, MaxConns: 2})
	// Connect on a connection the server closes after answering: once
	// the client sees it closed, its place is free.
	rc := dialRaw(t, s.Addr())
	body := `{"address":"` + b.Address() + `","strategies":["direct"]}`
	fmt.Fprintf(rc.c, "POST /v1/connections HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	resp, answer := rc.read("POST")
	var conn map[string]any
	if err := json.Unmarshal(answer, &conn); err != nil || resp.StatusCode != 201 {
		t.Fatalf("connect: %d %s", resp.StatusCode, answer)
	}
	rc.waitClosed()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+s.Addr()+"/v1/connections/"+conn["id"].(string)+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	metrics := dialRaw(t, s.Addr())
	gauge := func() string {
		resp, b := metrics.do("GET", "/metrics")
		if resp.StatusCode != 200 {
			t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.HasPrefix(line, "reachd_api_connections ") {
				return strings.TrimPrefix(line, "reachd_api_connections ")
			}
		}
		t.Fatalf("no reachd_api_connections in\n%s", b)
		return ""
	}
	if got := gauge(); got != "2" {
		t.Fatalf("reachd_api_connections %s with a WebSocket and this one open, want 2", got)
	}
	dialRaw(t, s.Addr()).waitClosed()

	ws.Close(websocket.StatusNormalClosure, "")
	// The server closes its side after the closing handshake, shortly
	// after ws.Close returns: ask until it has.
	for try := 0; gauge() != "1"; try++ {
		if try == 200 {
			t.Fatal("the WebSocket's place was not freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
