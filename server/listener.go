package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The API's connections are bounded at the listener, below net/http:
//
//   - At most max connections are open at once (keep-alive, event streams
//     and WebSockets alike). A connection beyond the cap is closed as soon
//     as it is accepted, and counted, rather than left queued in the
//     kernel's backlog as netutil.LimitListener would: a flood then costs
//     one accept and one close per connection, and a client learns at once
//     that it was refused instead of hanging.
//   - net/http answers a request it cannot read itself, in plain text, on
//     the raw connection: a header over MaxHeaderBytes (431), a malformed
//     request line or target such as a bad percent-escape (400), a missing
//     Host (400), an unknown transfer coding (501), an Expect other than
//     100-continue (417). The connection rewrites exactly those answers as
//     problems. They are recognised by when they come: between requests,
//     never while a handler answers (which could carry anything, peer data
//     included) or after a hijack.

// limitListener hands net/http at most max connections at once.
type limitListener struct {
	net.Listener
	max            int64
	maxHeaderBytes int
	log            *slog.Logger

	active  atomic.Int64
	refused atomic.Uint64
	logged  atomic.Int64 // unix nanoseconds of the last refusal logged
}

// refusalLogEvery bounds the log lines a flood of refused connections makes.
const refusalLogEvery = 10 * time.Second

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) <= l.max {
			return &apiConn{Conn: c, l: l}, nil
		}
		l.active.Add(-1)
		n := l.refused.Add(1)
		c.Close()
		now := time.Now().UnixNano()
		if last := l.logged.Load(); now-last >= int64(refusalLogEvery) && l.logged.CompareAndSwap(last, now) {
			l.log.Warn("api connection refused: too many open", "remote", c.RemoteAddr().String(), "max", l.max, "refused_total", n)
		}
	}
}

// apiConn is one accepted API connection: it frees its place when closed
// and turns net/http's own error answers into problems.
type apiConn struct {
	net.Conn
	l *limitListener
	// answering is set while a handler answers a request (and for good
	// once the connection is hijacked); unset between requests.
	answering atomic.Bool
	closed    atomic.Bool
}

func (c *apiConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.active.Add(-1)
	}
	return c.Conn.Close()
}

// CloseWrite lets net/http half-close after a 431, so that the client
// reads the answer before the connection is reset.
func (c *apiConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *apiConn) Write(p []byte) (int, error) {
	if !c.answering.Load() {
		if q, ok := unreadableAnswer(p, c.l.maxHeaderBytes); ok {
			if _, err := c.Conn.Write(q); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// apiConnKey is the context key of the request's *apiConn.
type apiConnKey struct{}

// connContext puts the connection into its requests' context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, apiConnKey{}, c)
}

// connState unsets answering when a connection waits for its next request.
func connState(c net.Conn, st http.ConnState) {
	if ac, ok := c.(*apiConn); ok && st == http.StateIdle {
		ac.answering.Store(false)
	}
}

// markAnswering marks the connection as answering a request while
// handlers run: what is written now is theirs.
func markAnswering(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(apiConnKey{}).(*apiConn); ok {
			c.answering.Store(true)
		}
		next.ServeHTTP(w, r)
	})
}

// unreadableAnswer recognises p as an error answer (status 400 to 599,
// the whole header in this write) and returns it as a problem that closes
// the connection. It is only asked about what net/http writes outside any
// handler, which is nothing else.
func unreadableAnswer(p []byte, maxHeaderBytes int) ([]byte, bool) {
	head, body, ok := bytes.Cut(p, []byte("\r\n\r\n"))
	if !ok {
		return nil, false
	}
	statusLine, _, _ := bytes.Cut(head, []byte("\r\n"))
	proto, rest, ok := bytes.Cut(statusLine, []byte(" "))
	if !ok || !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(rest) < 3 {
		return nil, false
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil || code < 400 || code > 599 {
		return nil, false
	}
	_, reason, _ := strings.Cut(string(rest[3:]), ": ") // net/http's "400 Bad Request: missing required Host header"
	pr := problemf(code, "%s", unreadableDetail(code, reason, string(body), maxHeaderBytes))
	if code == http.StatusBadRequest {
		pr.Type = problemType("bad-request")
	}
	b, _ := json.Marshal(pr)
	b = append(b, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(b), b), true
}

// unreadableDetail says why net/http could not read a request.
func unreadableDetail(code int, reason, body string, maxHeaderBytes int) string {
	switch {
	case code == http.StatusRequestHeaderFieldsTooLarge:
		return fmt.Sprintf("request header larger than %d bytes", maxHeaderBytes)
	case reason != "":
		return reason
	case code == http.StatusBadRequest:
		return "unreadable request: a malformed request line, target (such as a bad percent-escape in the path) or header"
	case code == http.StatusExpectationFailed:
		return "unsupported Expect header: only 100-continue is"
	case body != "" && !strings.HasPrefix(body, strconv.Itoa(code)) && len(body) <= maxPlainDetail:
		return strings.ToLower(body[:1]) + body[1:] // net/http's "Unsupported transfer encoding"
	}
	return strings.ToLower(http.StatusText(code))
}
