package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/reachd/reachd/signaling"
)

// Echo bounds when the request gives none, and at most.
const (
	defaultEchoTimeout = 5 * time.Second
	maxEchoTimeout     = 60 * time.Second
)

type echoRequest struct {
	Address   string `json:"address"`
	TimeoutMS int64  `json:"timeout_ms"`
}

func (s *Server) postEcho(w http.ResponseWriter, r *http.Request) error {
	var req echoRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	addr, _, err := s.resolvePeer(r.Context(), req.Address)
	if err != nil {
		return err
	}
	timeout, err := timeoutParam("timeout_ms", req.TimeoutMS, defaultEchoTimeout, maxEchoTimeout)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := s.cfg.Node.Echo(ctx, addr)
	var remote *signaling.RemoteError
	switch {
	case err == nil:
		return writeJSON(w, http.StatusOK, res)
	case errors.Is(err, context.DeadlineExceeded):
		return &Problem{Type: problemType("peer-timeout"), Title: "Peer did not answer", Status: http.StatusGatewayTimeout,
			Detail: "no echo_reply from " + addr.NodeID + " within " + timeout.String(), cause: err}
	case errors.Is(err, signaling.ErrNoBroker):
		return &Problem{Type: problemType("no-broker"), Title: "No signaling broker", Status: http.StatusServiceUnavailable,
			Detail: "no broker shared with the peer is connected", cause: err}
	case errors.As(err, &remote):
		return &Problem{Type: problemType("peer-refused"), Title: "Peer refused", Status: http.StatusBadGateway,
			Detail: remote.Reason, cause: err}
	default:
		return err
	}
}
