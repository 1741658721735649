package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/service"
	"github.com/reachd/reachd/signaling"
)

// The address book (node/book.go): names for peers, and the one place a
// request's peer reference is resolved.

type peerRequest struct {
	Address string `json:"address"`
	NodeID  string `json:"node_id"`
}

func (s *Server) listPeers(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{"peers": s.cfg.Node.AddressBook()})
}

// putPeer saves a peer under a name: 201 when the name is new.
func (s *Server) putPeer(w http.ResponseWriter, r *http.Request) error {
	var req peerRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, created, err := s.cfg.Node.PutPeer(chi.URLParam(r, "name"), req.Address, req.NodeID)
	if err != nil {
		return peerProblem(err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, p)
}

func (s *Server) deletePeer(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Node.DeletePeer(chi.URLParam(r, "name")); err != nil {
		return peerProblem(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resolvePeer turns the "address" member of a request (an address, a
// node ID, a name or host.network) into an address, and says where it
// came from (node.Source*).
func (s *Server) resolvePeer(ctx context.Context, ref string) (address.Address, string, error) {
	a, source, err := s.cfg.Node.Resolve(ctx, ref)
	if err != nil {
		var pe *address.ParseError
		if errors.As(err, &pe) {
			p := badRequest("%v", err) // names the address part and field
			p.Extra = map[string]any{"part": pe.Part, "field": pe.Field}
			return address.Address{}, "", p
		}
		return address.Address{}, "", peerProblem(err)
	}
	return a, source, nil
}

// peerProblem words an address book or peer reference failure: a name or
// a node ID the node knows nothing of and that no node answered for over
// signaling is 404 (no-peer), bad input 400, both naming the field.
func peerProblem(err error) error {
	var fe *service.FieldError
	var remote *signaling.RemoteError
	switch {
	case errors.As(err, &remote):
		return &Problem{Type: problemType("peer-refused"), Title: "Peer refused", Status: http.StatusBadGateway,
			Detail: err.Error(), cause: err}
	case errors.Is(err, node.ErrNotReady):
		return typedProblem("not-ready", http.StatusServiceUnavailable, "%v", err)
	case errors.Is(err, signaling.ErrNoBroker):
		return &Problem{Type: problemType("no-broker"), Title: "No signaling broker", Status: http.StatusServiceUnavailable,
			Detail: "no signaling broker is connected to ask the node ID's owner for its address", cause: err}
	case !errors.As(err, &fe):
		return err
	}
	p := fieldProblem(http.StatusBadRequest, fe.Field, "%v", err)
	if errors.Is(err, node.ErrNoPeer) || errors.Is(err, node.ErrNoAddress) || errors.Is(err, node.ErrNoAnswer) {
		p = typedProblem("no-peer", http.StatusNotFound, "%v", err)
		p.Extra = map[string]any{"field": fe.Field}
	}
	return p
}
