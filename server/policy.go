package server

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/reachd/reachd/node"
)

// The inbound policy: who may connect to the node and ask it to dial.

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.cfg.Node.Policy())
}

type policyRequest struct {
	Accept string `json:"accept"`
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) error {
	var req policyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Accept == "" {
		return badRequest("accept: missing; want %s or %s", node.AcceptAny, node.AcceptAllowlist)
	}
	p, err := s.cfg.Node.SetAccept(req.Accept)
	if errors.Is(err, node.ErrPolicy) {
		return badRequest("%v", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) putAllowed(w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Node.AllowPeer(chi.URLParam(r, "id"))
	if errors.Is(err, node.ErrPolicy) {
		return badRequest("id: %v", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) deleteAllowed(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	p, removed := s.cfg.Node.DisallowPeer(id)
	if !removed {
		return problemf(http.StatusNotFound, "node %s is not on the allow list", id)
	}
	return writeJSON(w, http.StatusOK, p)
}
