package server

import (
	"errors"
	"net/http"
	"net/netip"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/tap"
)

type tapRequest struct {
	IP   string `json:"ip"`
	Name string `json:"name"`
	MTU  int    `json:"mtu"`
}

// postTAP backs a connection with a TAP device.
func (s *Server) postTAP(w http.ResponseWriter, r *http.Request) error {
	c, err := s.conn(r)
	if err != nil {
		return err
	}
	var req tapRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.IP == "" {
		return badRequest("ip: missing; want an address with its prefix length, e.g. 10.99.0.1/24")
	}
	ip, err := netip.ParsePrefix(req.IP)
	if err != nil {
		return badRequest("ip %q: want an address with its prefix length, e.g. 10.99.0.1/24", req.IP)
	}
	info, err := s.cfg.Node.AttachTAP(c, node.TAPConfig{IP: ip, Name: req.Name, MTU: req.MTU})
	if err != nil {
		return tapProblem(c, err)
	}
	return writeJSON(w, http.StatusCreated, info)
}

// deleteTAP removes a connection's TAP device (and so the connection).
func (s *Server) deleteTAP(w http.ResponseWriter, r *http.Request) error {
	c, err := s.conn(r)
	if err != nil {
		return err
	}
	if err := s.cfg.Node.DetachTAP(c); err != nil {
		return tapProblem(c, err)
	}
	return writeJSON(w, http.StatusOK, c.Info())
}

// tapProblem words a TAP failure of connection c (nil for a network's
// device) with its status: bad input 400, a name,
// address or connection taken 409, no permission or no /dev/net/tun 503,
// another system 501.
func tapProblem(c *node.Conn, err error) error {
	var (
		ce *tap.ConfigError
		te *tap.TakenError
	)
	switch {
	case errors.As(err, &ce):
		return badRequest("%v", err)
	case errors.Is(err, node.ErrConnClosed) && c != nil:
		return gone(c, "closed")
	case errors.As(err, &te), errors.Is(err, node.ErrTapped), errors.Is(err, node.ErrBusy):
		return typedProblem("tap-conflict", http.StatusConflict, "%v", err)
	case errors.Is(err, node.ErrNoTAP):
		return typedProblem("no-tap", http.StatusNotFound, "%v", err)
	case errors.Is(err, tap.ErrUnsupported):
		return typedProblem("tap-unsupported", http.StatusNotImplemented, "%v", err)
	case errors.Is(err, tap.ErrPermission), errors.Is(err, tap.ErrNoTUN):
		return typedProblem("tap-unavailable", http.StatusServiceUnavailable, "%v", err)
	}
	return err
}
