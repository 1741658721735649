package server

import (
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/reachd/reachd/names"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/service"
)

// Public names on the node's name services (node/names.go).

func (s *Server) listNames(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"names": s.cfg.Node.Names()})
}

// putName registers a name for this node: 201 when it is new to the node.
func (s *Server) putName(w http.ResponseWriter, r *http.Request) error {
	info, created, err := s.cfg.Node.RegisterName(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		return nameProblem(err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, info)
}

// getName resolves a name on the name services.
func (s *Server) getName(w http.ResponseWriter, r *http.Request) error {
	info, _, err := s.cfg.Node.LookupName(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		return nameProblem(err)
	}
	return writeJSON(w, http.StatusOK, info)
}

func (s *Server) deleteName(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Node.DropName(r.Context(), chi.URLParam(r, "name")); err != nil {
		return nameProblem(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nameProblem words a name service failure: a name that is not a DNS
// label 400, unknown 404 (no-name), another node's 409 (name-taken), no
// name service answering 503 (no-name-service).
func nameProblem(err error) error {
	var fe *service.FieldError
	switch {
	case errors.Is(err, names.ErrTaken):
		return typedProblem("name-taken", http.StatusConflict, "%v", err)
	case errors.Is(err, names.ErrNotFound), errors.Is(err, node.ErrNotMine):
		return typedProblem("no-name", http.StatusNotFound, "%v", err)
	case errors.Is(err, node.ErrNoNameService):
		return typedProblem("no-name-service", http.StatusServiceUnavailable, "%v", err)
	case errors.Is(err, node.ErrNotReady):
		return typedProblem("not-ready", http.StatusServiceUnavailable, "%v", err)
	case errors.As(err, &fe):
		return fieldProblem(http.StatusBadRequest, fe.Field, "%v", err)
	case errors.Is(err, names.ErrKeyLimit), errors.Is(err, names.ErrIPLimit), errors.Is(err, names.ErrFull), errors.Is(err, names.ErrBusy):
		return typedProblem("name-refused", http.StatusTooManyRequests, "%v", err)
	}
	return err
}
