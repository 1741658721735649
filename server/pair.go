package server

import (
	"errors"
	"net/http"

	"github.com/reachd/reachd/node"
)

// Pairing with a short code (node/pair.go, package pair).

type pairRequest struct {
	Name string `json:"name"`
}

type pairJoinRequest struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// postPair opens an offer: 201 with its code and expiry.
func (s *Server) postPair(w http.ResponseWriter, r *http.Request) error {
	var req pairRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	o, err := s.cfg.Node.Pair(r.Context(), req.Name)
	if err != nil {
		return pairProblem(err)
	}
	return writeJSON(w, http.StatusCreated, o)
}

// postPairJoin completes an offer: 201 with the saved peer.
func (s *Server) postPairJoin(w http.ResponseWriter, r *http.Request) error {
	var req pairJoinRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, err := s.cfg.Node.PairJoin(r.Context(), req.Code, req.Name)
	if err != nil {
		return pairProblem(err)
	}
	return writeJSON(w, http.StatusCreated, p)
}

// pairProblem words a pairing failure: bad input 400 naming the field; a
// wrong, used or unknown code 403; this node's own offer or a join of that
// code running already 409; too many offers 429; not ready 503.
func pairProblem(err error) error {
	switch {
	case node.IsPairRefusal(err):
		return &Problem{Type: problemType("pair-refused"), Title: "Pairing refused", Status: http.StatusForbidden, Detail: err.Error(), cause: err}
	case errors.Is(err, node.ErrPairOwnOffer), errors.Is(err, node.ErrPairBusy):
		return typedProblem("pair-conflict", http.StatusConflict, "%v", err)
	case errors.Is(err, node.ErrPairOffers):
		return typedProblem("pair-offers", http.StatusTooManyRequests, "%v", err)
	case errors.Is(err, node.ErrNotReady):
		return typedProblem("not-ready", http.StatusServiceUnavailable, "%v", err)
	}
	return peerProblem(err)
}
