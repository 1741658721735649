package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/reachd/reachd/node"
)

// Bounds of the connection routes.
const (
	defaultConnectTimeout = 20 * time.Second
	maxConnectTimeout     = 120 * time.Second
	defaultRecvTimeout    = time.Second
	maxRecvTimeout        = 60 * time.Second
	defaultRecvMax        = 64 << 10
	maxRecvMax            = 1 << 20
	maxGrace              = time.Hour
)

type connectRequest struct {
	Address    string   `json:"address"`
	Strategies []string `json:"strategies"`
	TimeoutMS  int64    `json:"timeout_ms"`
	GraceMS    int64    `json:"grace_ms"`
	Fresh      bool     `json:"fresh"`
	Service    string   `json:"service"`
}

// connectAnswer is the connection a connect made, with where its peer
// reference was resolved.
type connectAnswer struct {
	node.ConnInfo
	PeerSource string `json:"peer_source,omitempty"`
}

func (s *Server) postConnection(w http.ResponseWriter, r *http.Request) error {
	var req connectRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	addr, source, err := s.resolvePeer(r.Context(), req.Address)
	if err != nil {
		return err
	}
	strategies, err := node.CheckStrategies(req.Strategies)
	if err != nil {
		return badRequest("strategies: %v", err)
	}
	timeout, err := timeoutParam("timeout_ms", req.TimeoutMS, defaultConnectTimeout, maxConnectTimeout)
	if err != nil {
		return err
	}
	if req.GraceMS < 0 || time.Duration(req.GraceMS)*time.Millisecond > maxGrace {
		return badRequest("grace_ms=%d: want 0 (the node's default) to %d", req.GraceMS, maxGrace.Milliseconds())
	}
	if req.Service != "" && !node.ValidServiceName(req.Service) {
		return fieldProblem(http.StatusBadRequest, "service", "service %q: %v", req.Service, node.ErrServiceName)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	c, err := s.cfg.Node.ConnectWith(ctx, addr, node.ConnectOptions{Strategies: strategies, Grace: time.Duration(req.GraceMS) * time.Millisecond, Fresh: req.Fresh, Service: req.Service})
	var ce *node.ConnectError
	switch {
	case err == nil:
		w.Header().Set("Location", "/v1/connections/"+c.ID())
		return writeJSON(w, http.StatusCreated, connectAnswer{c.Info(), source})
	case errors.Is(err, node.ErrSelf):
		return badRequest("address: %v", err)
	case errors.As(err, &ce):
		return &Problem{Type: problemType("connect-failed"), Title: "No strategy connected", Status: http.StatusBadGateway,
			Detail: err.Error(), Extra: map[string]any{"verdict": ce.Verdict(), "attempts": ce.Attempts}, cause: err}
	default:
		return err
	}
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request) error {
	conns := s.cfg.Node.Conns()
	out := make([]node.ConnInfo, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.Info())
	}
	return writeJSON(w, http.StatusOK, map[string]any{"connections": out})
}

// conn finds the connection named by the {id} route parameter.
func (s *Server) conn(r *http.Request) (*node.Conn, error) {
	id := chi.URLParam(r, "id")
	c, ok := s.cfg.Node.Conn(id)
	if !ok {
		return nil, typedProblem("no-connection", http.StatusNotFound, "no connection %q", id)
	}
	return c, nil
}

// dataConn is conn for the routes that move the connection's bytes
// (send, recv, stream), claiming the directions they use (Conn.Claim)
// until release: a connection that backs a TAP device or is a named
// network's member link (its bytes are frames), or whose direction another
// consumer has, is 409.
func (s *Server) dataConn(r *http.Request, read, write bool) (c *node.Conn, release func(), err error) {
	c, err = s.conn(r)
	if err != nil {
		return nil, nil, err
	}
	if c.Tapped() {
		return nil, nil, typedProblem("connection-tapped", http.StatusConflict, "connection %s backs a TAP device: its bytes are the device's frames", c.ID())
	}
	if name := s.cfg.Node.MemberLinkOf(c); name != "" {
		return nil, nil, typedProblem("connection-tapped", http.StatusConflict, "connection %s is a member link of network %s: its bytes are the network's frames", c.ID(), name)
	}
	release, err = c.Claim(read, write)
	if err != nil {
		what := map[[2]bool]string{{true, false}: "reads", {false, true}: "writes", {true, true}: "reads or writes"}[[2]bool{read, write}]
		return nil, nil, typedProblem("connection-busy", http.StatusConflict, "another consumer %s connection %s (a WebSocket stream or a request in progress)", what, c.ID())
	}
	return c, release, nil
}

func gone(c *node.Conn, what string) *Problem {
	return typedProblem("connection-closed", http.StatusGone, "connection %s: %s", c.ID(), what)
}

// aborted is the problem of a connection that did not end cleanly.
func aborted(c *node.Conn, err *node.AbortError) *Problem {
	p := typedProblem("connection-aborted", http.StatusBadGateway, "connection %s was aborted: %s", c.ID(), c.Info().CloseReason)
	p.Extra = map[string]any{"reason": err.Reason, "by_peer": err.Remote}
	return p
}

// interruptWaits makes the waits that the deadline setters bound (c's
// writes, its reads) return when ctx ends (a consumer that went away),
// until the returned func is called; that clears the deadlines, so the
// next consumer finds none.
func interruptWaits(ctx context.Context, setters ...func(time.Time) error) (stop func()) {
	var mu sync.Mutex
	over := false
	cancel := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !over {
			for _, set := range setters {
				set(time.Unix(1, 0))
			}
		}
	})
	return func() {
		cancel()
		mu.Lock()
		over = true
		mu.Unlock()
		for _, set := range setters {
			set(time.Time{})
		}
	}
}

func (s *Server) getConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := s.conn(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c.Info())
}

func (s *Server) deleteConnection(w http.ResponseWriter, r *http.Request) error {
	c, err := s.conn(r)
	if err != nil {
		return err
	}
	c.Close()
	return writeJSON(w, http.StatusOK, c.Info())
}

// send writes the request body to the peer as it arrives.
func (s *Server) send(w http.ResponseWriter, r *http.Request) error {
	c, release, err := s.dataConn(r, false, true)
	if err != nil {
		return err
	}
	defer release()
	stop := interruptWaits(r.Context(), c.SetWriteDeadline)
	n, err := io.Copy(connWriter{c}, r.Body)
	// The next consumer may come as soon as the client has our answer.
	stop()
	release()
	var ae *node.AbortError
	switch {
	case errors.As(err, &ae):
		p := aborted(c, ae)
		p.Extra["sent"] = n
		return p
	case errors.Is(err, node.ErrConnClosed) && n == 0:
		return gone(c, "closed for sending")
	case errors.Is(err, node.ErrConnClosed):
	case err != nil && n == 0:
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int64{"sent": n})
}

// connWriter adapts Conn.Write, whose errors name the connection state.
type connWriter struct{ c *node.Conn }

func (cw connWriter) Write(p []byte) (int, error) { return cw.c.Write(p) }

// recv answers with what the peer sent: 200 with what has arrived, up to
// max bytes, once the first byte is there; 204 when nothing came within
// timeout_ms; 410 after the peer's clean end of its stream (or our
// close); 502 connection-aborted after an abort.
func (s *Server) recv(w http.ResponseWriter, r *http.Request) error {
	c, release, err := s.dataConn(r, true, false)
	if err != nil {
		return err
	}
	defer release()
	max, err := intParam(r, "max", defaultRecvMax, 1, maxRecvMax)
	if err != nil {
		return err
	}
	ms, err := intParam(r, "timeout_ms", int(defaultRecvTimeout.Milliseconds()), 0, int(maxRecvTimeout.Milliseconds()))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Duration(ms)*time.Millisecond)
	defer cancel()
	var n int
	var buf *recvBuf
	err = c.Wait(ctx) // without a buffer
	if err == nil {
		buf = recvPool.Get().(*recvBuf)
		defer recvPool.Put(buf)
		n, err = c.ReadInto(ctx, buf[:max])
	}
	// The next consumer may come as soon as the client has our answer:
	// let go of the direction before answering.
	release()
	if err == nil {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		_, err = w.Write(buf[:n])
		return err
	}
	var ae *node.AbortError
	switch {
	case errors.Is(err, io.EOF):
		return gone(c, "the peer's stream has ended")
	case errors.As(err, &ae):
		return aborted(c, ae)
	case errors.Is(err, node.ErrConnClosed):
		return gone(c, "closed")
	case errors.Is(err, context.DeadlineExceeded):
		w.WriteHeader(http.StatusNoContent)
		return nil
	case r.Context().Err() != nil:
		return nil // the client went away
	default:
		return err
	}
}

// intParam reads an integer query parameter within [min, max].
func intParam(r *http.Request, name string, def, min, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, badRequest("query parameter %s=%q: want an integer from %d to %d", name, v, min, max)
	}
	return n, nil
}
