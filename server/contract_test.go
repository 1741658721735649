package server

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/openapi/openapitest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// problemOf sends req through the validating client and returns the status,
// the Content-Type and the decoded problem (nil when the body is not JSON).
func problemOf(t *testing.T, req *http.Request) (int, string, map[string]any) {
	t.Helper()
	resp, err := openapitest.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header.Get("Content-Type"), m
}

// TestJSONMediaTypeIsExact sends bodies whose Content-Type only starts like
// JSON's.
func TestJSONMediaTypeIsExact(t *testing.T) {
	s := startServer(t, Config{})
	for _, tt := range []struct {
		ct     string
		status int // 0: anything but the content type refusal
	}{
		{"application/jsonfoo", 400},
		{"application/json-patch+json", 400},
		{"application/json;charset=latin1", 400},
		{"application/json; charset", 400},
		{"text/plain", 400},
		{"application/json", 0},
		{"Application/JSON; charset=UTF-8", 0},
	} {
		t.Run(tt.ct, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/v1/echo", strings.NewReader(`{"address":"x"}`))
			req.Header.Set("Content-Type", tt.ct)
			status, ct, p := problemOf(t, req)
			detail, _ := p["detail"].(string)
			refused := status == 400 && ct == "application/problem+json" && strings.Contains(detail, "content type")
			if refused != (tt.status != 0) {
				t.Errorf("%d %s %v: refused as not JSON = %v, want %v", status, ct, p, refused, tt.status != 0)
			}
		})
	}
}

// TestTimeoutBeyondMaximum sends timeout_ms values above the documented
// maximum, including ones that overflow a time.Duration when converted to
// nanoseconds: 18446744073710 ms wraps round to 448µs.
func TestTimeoutBeyondMaximum(t *testing.T) {
	rv := rendezvoustest.Start(t)
	n := nodetest.Start(t, rv)
	s := startServer(t, Config{Node: n})
	pub, _, _ := ed25519.GenerateKey(nil)
	other, err := address.Parse(n.Address())
	if err != nil {
		t.Fatal(err)
	}
	other.NodeID = identity.NodeIDFromKey(pub)
	for _, path := range []string{"/v1/connections", "/v1/echo"} {
		for _, ms := range []string{"120001", "18446744073710", "9223372036854775807", "99999999999999999999", "-1"} {
			t.Run(path+"/"+ms, func(t *testing.T) {
				body := `{"address":"` + other.String() + `","timeout_ms":` + ms + `}`
				req, _ := http.NewRequest("POST", "http://"+s.Addr()+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				status, ct, p := problemOf(t, req)
				if detail, _ := p["detail"].(string); status != 400 || ct != "application/problem+json" || !strings.Contains(detail, "timeout_ms") {
					t.Errorf("%d %s %v, want a 400 problem naming timeout_ms", status, ct, p)
				}
			})
		}
	}
}

// TestFileErrorsAreProblems asks the dashboard's file server for what it
// does not have.
func TestFileErrorsAreProblems(t *testing.T) {
	s := startServer(t, Config{})
	for _, path := range []string{"/static/nope.css", "/static/js/", "/static/js/nope.js"} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+s.Addr()+path, nil)
			status, ct, p := problemOf(t, req)
			if detail, _ := p["detail"].(string); status != 404 || ct != "application/problem+json" || p["status"] != 404.0 || !strings.Contains(detail, path) {
				t.Errorf("%d %s %v, want a 404 problem naming %s", status, ct, p, path)
			}
		})
	}
}

// TestWebSocketHandshakeErrorsAreProblems opens a connection's stream
// with a handshake the WebSocket library refuses.
func TestWebSocketHandshakeErrorsAreProblems(t *testing.T) {
	p := startPair(t)
	status, conn, _ := call(t, "POST", p.apiA+"/v1/connections", `{"address":"`+p.b.Address()+`","strategies":["direct"]}`)
	if status != 201 {
		t.Fatalf("connect: %d %v", status, conn)
	}
	url := p.apiA + "/v1/connections/" + conn["id"].(string) + "/stream"
	for _, tt := range []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"no key", map[string]string{"Sec-WebSocket-Version": "13"}, "Sec-WebSocket-Key"},
		{"short key", map[string]string{"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "c2hvcnQ="}, "Sec-WebSocket-Key"},
		{"old version", map[string]string{"Sec-WebSocket-Version": "8", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, "version"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			status, ct, pr := problemOf(t, req)
			if detail, _ := pr["detail"].(string); status != 400 || ct != "application/problem+json" || !strings.Contains(detail, tt.want) {
				t.Errorf("%d %s %v, want a 400 problem naming %s", status, ct, pr, tt.want)
			}
		})
	}
}

// TestHeadOnGetRoutes sends HEAD wherever the document lists GET: the
// answer is the GET's status and Content-Type, without a body (the
// validating client checks the body).
func TestHeadOnGetRoutes(t *testing.T) {
	s := startServer(t, Config{})
	doc := openapitest.Document(t)
	client := openapitest.Client(t)
	n := 0
	for path, item := range doc.Paths.Map() {
		if item.Get == nil {
			continue
		}
		n++
		url := "http://" + s.Addr() + examplePath(doc, "GET", path)
		t.Run(path, func(t *testing.T) {
			answer := func(method string) (int, string) {
				req, _ := http.NewRequest(method, url, nil)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close() // an event stream stays open otherwise
				return resp.StatusCode, resp.Header.Get("Content-Type")
			}
			getStatus, getType := answer("GET")
			headStatus, headType := answer("HEAD")
			if headStatus != getStatus || headType != getType {
				t.Errorf("HEAD: %d %q, GET: %d %q", headStatus, headType, getStatus, getType)
			}
		})
	}
	if n < 8 {
		t.Fatalf("only %d GET paths documented", n)
	}
}

// TestHeadOnEventsEnds asks for the event stream's headers, then for
// something else on the same connection: the HEAD answer must end.
func TestHeadOnEventsEnds(t *testing.T) {
	s := startServer(t, Config{})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, target := range []string{"HEAD /v1/events", "GET /v1/node"} {
		fmt.Fprintf(c, "%s HTTP/1.1\r\nHost: %s\r\n\r\n", target, s.Addr())
		resp, err := http.ReadResponse(br, &http.Request{Method: strings.Fields(target)[0]})
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", target, resp.StatusCode)
		}
	}
}

// TestHeadOnRecvTakesNothing checks a receive with HEAD while data waits:
// the data is still there for the GET.
func TestHeadOnRecvTakesNothing(t *testing.T) {
	p := startPair(t)
	status, conn, _ := call(t, "POST", p.apiA+"/v1/connections", `{"address":"`+p.b.Address()+`","strategies":["direct"]}`)
	if status != 201 {
		t.Fatalf("connect: %d %v", status, conn)
	}
	inID := inboundID(t, p.apiB)
	sendData(t, p.apiA, conn["id"].(string), "hello")
	recv := p.apiB + "/v1/connections/" + inID + "/recv?timeout_ms=5000"
	for _, tt := range []struct {
		query  string
		status int
	}{
		{"", 200},
		{"&max=0", 400},
	} {
		req, _ := http.NewRequest("HEAD", recv+tt.query, nil)
		if status, _, _ := problemOf(t, req); status != tt.status {
			t.Errorf("HEAD recv%s: %d, want %d", tt.query, status, tt.status)
		}
	}
	if status, b := raw(t, "GET", recv, nil); status != 200 || string(b) != "hello" {
		t.Errorf("GET recv after HEAD: %d %q, want hello", status, b)
	}
}
