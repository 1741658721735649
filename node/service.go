package node

import (
	"context"
	"fmt"

	"github.com/reachd/reachd/node/internal/peerlink"
	"github.com/reachd/reachd/service"
	"github.com/reachd/reachd/session"
)

// Services and forwards (the service package) ride on the node's streams:
// the node opens a forward's streams and hands the service manager the
// streams peers open for a service it allows them.

// ErrServiceName: a service name that is not a DNS label.
var ErrServiceName = service.ErrName

// ValidServiceName reports whether name is a DNS label ([a-z0-9-]{1,63}).
func ValidServiceName(name string) bool { return service.ValidName(name) }

// serviceOpener is the node as the service manager sees it.
type serviceOpener struct{ n *Node }

var _ service.Opener = serviceOpener{}

// CheckPeer accepts a peer reference (an address, a node ID or a name in
// the address book, see Node.Resolve) that is not our own. A forward
// keeps the reference and resolves it at every stream it opens, so a
// name follows the peer's address as the book learns it.
func (o serviceOpener) CheckPeer(peer string) error {
	a, _, err := o.n.Resolve(context.Background(), peer)
	if err != nil {
		return fieldCause(err)
	}
	if a.NodeID == o.n.ID() {
		return ErrSelf
	}
	return nil
}

func (o serviceOpener) OpenService(ctx context.Context, peer, name string, frames bool) (*session.Stream, error) {
	a, _, err := o.n.Resolve(ctx, peer)
	if err != nil {
		return nil, fieldCause(err)
	}
	opts := ConnectOptions{Service: name}
	if frames {
		opts.Kind = session.KindFrames
	}
	c, err := o.n.ConnectWith(ctx, a, opts)
	if err != nil {
		return nil, err
	}
	return c.s, nil
}

// acceptService connects a stream a peer opened for one of our services
// to its target, listed as an inbound connection. A service that does not
// exist, one the peer may not use and one of the other protocol are
// refused alike. inboundMu is held.
func (n *Node) acceptService(l *peerlink.Link, s *session.Stream) {
	h := s.Header()
	svc, ok := n.services.Lookup(h.Service, l.Peer())
	if ok && (svc.Protocol == service.UDP) != (h.Kind == session.KindFrames) {
		ok = false
	}
	if !ok {
		n.log.Info("service stream refused", "peer", l.Peer(), "service", h.Service)
		s.Abort(service.NoSuchService)
		return
	}
	n.addConn(newConn(n, s, l, Inbound, nil, l.Grace()))
	n.services.Serve(s, svc)
}

// Services lists the services this node offers.
func (n *Node) Services() []service.Service { return n.services.Services() }

// PutService offers a service, or changes it; created says it is new.
func (n *Node) PutService(s service.Service) (service.Service, bool, error) {
	return n.services.Put(s)
}

// DeleteService stops offering a service.
func (n *Node) DeleteService(name string) error { return n.services.Delete(name) }

// Forwards lists the forwards.
func (n *Node) Forwards() []service.ForwardInfo { return n.services.Forwards() }

// AddForward starts a forward to a peer's service.
func (n *Node) AddForward(f service.Forward) (service.ForwardInfo, error) {
	return n.services.AddForward(f)
}

// RemoveForward stops a forward.
func (n *Node) RemoveForward(id string) error { return n.services.RemoveForward(id) }

// servicesChanged emits the services or the forwards after a change.
func (n *Node) servicesChanged(kind string) {
	switch kind {
	case "service":
		n.emit(Event{Type: EventService, Services: n.services.Services()})
	case "forward":
		n.emit(Event{Type: EventForward, Forwards: n.services.Forwards()})
	}
}

func newServices(n *Node) (*service.Manager, error) {
	m, err := service.New(service.Config{
		Opener:   serviceOpener{n},
		Store:    n.state,
		OnChange: func(kind string) { n.servicesChanged(kind) },
		Logger:   n.cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return m, nil
}
