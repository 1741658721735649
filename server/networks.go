package server

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/reachd/reachd/network"
	"github.com/reachd/reachd/node"
)

// Named networks: join, list, show (with the peer table), leave.

type networkRequest struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
	IP     string `json:"ip"`
}

// postNetwork joins a network.
func (s *Server) postNetwork(w http.ResponseWriter, r *http.Request) error {
	var req networkRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.Name == "":
		return badRequest("name: missing")
	case req.Secret == "":
		return badRequest("secret: missing; at least %d characters shared by the members", network.MinSecretLen)
	case req.IP == "":
		return badRequest(`ip: missing; want an IPv4 address with its prefix length (10.99.0.1/24) or "auto"`)
	}
	info, err := s.cfg.Node.JoinNetwork(r.Context(), network.JoinConfig{Name: req.Name, Secret: req.Secret, IP: req.IP})
	if err != nil {
		return networkProblem(err)
	}
	return writeJSON(w, http.StatusCreated, info)
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"networks": s.cfg.Node.Networks()})
}

func (s *Server) getNetwork(w http.ResponseWriter, r *http.Request) error {
	info, err := s.cfg.Node.Network(chi.URLParam(r, "name"))
	if err != nil {
		return networkProblem(err)
	}
	return writeJSON(w, http.StatusOK, info)
}

// deleteNetwork leaves a network.
func (s *Server) deleteNetwork(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "name")
	info, err := s.cfg.Node.Network(name)
	switch {
	case err == nil:
		err = s.cfg.Node.LeaveNetwork(r.Context(), name)
	case errors.Is(err, node.ErrNetworkNotJoined):
		// Saved but not joined (its join at start failed): the leave
		// forgets it, or says it is not joined.
		info, err = network.Info{Name: name}, s.cfg.Node.LeaveNetwork(r.Context(), name)
	}
	if err != nil {
		return networkProblem(err)
	}
	return writeJSON(w, http.StatusOK, info)
}

// networkProblem words a network failure with its status: bad input 400,
// a name joined already or a subnet over a route of the host 409, not
// joined 404; device failures as tapProblem.
func networkProblem(err error) error {
	switch {
	case errors.Is(err, network.ErrBadName), errors.Is(err, network.ErrBadSecret), errors.Is(err, network.ErrBadIP):
		return badRequest("%v", err)
	case errors.Is(err, network.ErrSubnetTaken):
		return typedProblem("network-subnet-taken", http.StatusConflict, "%v", err)
	case errors.Is(err, network.ErrJoined):
		return typedProblem("network-joined", http.StatusConflict, "%v", err)
	case errors.Is(err, network.ErrNotJoined):
		return typedProblem("network-not-joined", http.StatusNotFound, "%v", err)
	case errors.Is(err, node.ErrNotReady):
		return typedProblem("not-ready", http.StatusServiceUnavailable, "%v", err)
	}
	return tapProblem(nil, err) // device failures: a name or address taken, no permission, ...
}
