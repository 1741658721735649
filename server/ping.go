package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/reachd/reachd/node"
)

// Ping bounds when the request gives none, and at most.
const (
	defaultPingTimeout = 20 * time.Second
	maxPingTimeout     = 120 * time.Second
)

type pingRequest struct {
	Address    string   `json:"address"`
	Count      int      `json:"count"`
	Fresh      bool     `json:"fresh"`
	Strategies []string `json:"strategies"`
	TimeoutMS  int64    `json:"timeout_ms"`
}

// postPing measures round trips over the data path to a peer (the
// session link's pings), racing for a path first when there is none or
// the request asks for a fresh one.
func (s *Server) postPing(w http.ResponseWriter, r *http.Request) error {
	var req pingRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	addr, _, err := s.resolvePeer(r.Context(), req.Address)
	if err != nil {
		return err
	}
	if req.Count < 0 || req.Count > node.MaxPingCount {
		return badRequest("count=%d: want 0 (one) to %d", req.Count, node.MaxPingCount)
	}
	strategies, err := node.CheckStrategies(req.Strategies)
	if err != nil {
		return badRequest("strategies: %v", err)
	}
	timeout, err := timeoutParam("timeout_ms", req.TimeoutMS, defaultPingTimeout, maxPingTimeout)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := s.cfg.Node.Ping(ctx, addr, node.PingOptions{Count: req.Count, Fresh: req.Fresh, Strategies: strategies})
	var ce *node.ConnectError
	switch {
	case err == nil:
		return writeJSON(w, http.StatusOK, res)
	case errors.Is(err, node.ErrSelf):
		return badRequest("address: %v", err)
	case errors.As(err, &ce):
		return &Problem{Type: problemType("connect-failed"), Title: "No strategy connected", Status: http.StatusBadGateway,
			Detail: err.Error(), Extra: map[string]any{"verdict": ce.Verdict(), "attempts": ce.Attempts}, cause: err}
	case errors.Is(err, node.ErrNotReady):
		return typedProblem("not-ready", http.StatusServiceUnavailable, "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return &Problem{Type: problemType("peer-timeout"), Title: "Peer did not answer", Status: http.StatusGatewayTimeout,
			Detail: "no pong from " + addr.NodeID + " within " + timeout.String(), cause: err}
	default:
		return err
	}
}
