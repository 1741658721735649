package server

import (
	"errors"
	"net/http"
	"syscall"

	"github.com/go-chi/chi/v5"

	"github.com/reachd/reachd/service"
)

// Services this node offers and forwards to peers' services (the service
// package).

type serviceRequest struct {
	Target   string   `json:"target"`
	Protocol string   `json:"protocol"`
	Allow    []string `json:"allow"`
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"services": s.cfg.Node.Services()})
}

// putService offers a service or changes it: 201 when it is new.
func (s *Server) putService(w http.ResponseWriter, r *http.Request) error {
	var req serviceRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	svc, created, err := s.cfg.Node.PutService(service.Service{
		Name: chi.URLParam(r, "name"), Target: req.Target, Protocol: req.Protocol, Allow: req.Allow})
	if err != nil {
		return serviceProblem(err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, svc)
}

func (s *Server) deleteService(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Node.DeleteService(chi.URLParam(r, "name")); err != nil {
		return serviceProblem(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type forwardRequest struct {
	Peer     string `json:"peer"`
	Service  string `json:"service"`
	Listen   string `json:"listen"`
	Protocol string `json:"protocol"`
}

func (s *Server) listForwards(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"forwards": s.cfg.Node.Forwards()})
}

// postForward starts a forward: 201 with its actual listen address.
func (s *Server) postForward(w http.ResponseWriter, r *http.Request) error {
	var req forwardRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Peer == "" {
		return fieldProblem(http.StatusBadRequest, "peer", "peer: required")
	}
	f, err := s.cfg.Node.AddForward(service.Forward{Peer: req.Peer, Service: req.Service, Listen: req.Listen, Protocol: req.Protocol})
	if err != nil {
		return serviceProblem(err)
	}
	w.Header().Set("Location", "/v1/forwards/"+f.ID)
	return writeJSON(w, http.StatusCreated, f)
}

func (s *Server) deleteForward(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Node.RemoveForward(chi.URLParam(r, "id")); err != nil {
		return serviceProblem(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// serviceProblem words a service or forward failure: bad input 400 with
// the field it names, a listen address in use 409, not found 404.
func serviceProblem(err error) error {
	var fe *service.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	switch {
	case errors.Is(err, service.ErrNotFound) && fe.Field == "id":
		return typedProblem("no-forward", http.StatusNotFound, "%v", err)
	case errors.Is(err, service.ErrNotFound):
		return typedProblem("no-service", http.StatusNotFound, "%v", err)
	case errors.Is(err, syscall.EADDRINUSE):
		return fieldProblem(http.StatusConflict, fe.Field, "%v", err)
	}
	return fieldProblem(http.StatusBadRequest, fe.Field, "%v", err)
}

// fieldProblem is a problem about one field of the request, named in its
// "field" member.
func fieldProblem(status int, field, format string, args ...any) *Problem {
	typ := "bad-request"
	if status == http.StatusConflict {
		typ = "address-in-use"
	}
	p := typedProblem(typ, status, format, args...)
	p.Extra = map[string]any{"field": field}
	return p
}
