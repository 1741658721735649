package service

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// DefaultListen is where a forward listens unless told otherwise: a free
// port on loopback.
const DefaultListen = "127.0.0.1:0"

// Forward is a local address that reaches a peer's service.
type Forward struct {
	ID string `json:"id"`
	// Peer is the peer reference the node resolves at each connection (an
	// address, a node ID or a name in the address book).
	Peer     string `json:"peer"`
	Service  string `json:"service"`
	Protocol string `json:"protocol"`
	// Listen is the local address; once listening, the actual one.
	Listen string `json:"listen"`
}

// ForwardInfo is a forward with its counters, as the API lists it.
type ForwardInfo struct {
	Forward
	// Connections counts local connections (UDP flows) since it started;
	// Active those open now; Failures those whose stream could not open.
	Connections   int64  `json:"connections"`
	Active        int64  `json:"active"`
	Failures      int64  `json:"failures"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	// Error says why a restored forward does not listen.
	Error string `json:"error,omitempty"`
}

// forward is a running Forward.
type forward struct {
	Forward
	m   *Manager
	ctr counters
	err string // why it does not listen (restore only)

	ln     net.Listener    // TCP
	udp    *net.UDPConn    // UDP
	ctx    context.Context // ends with stop
	cancel context.CancelFunc
}

func newForwardID() string {
	var b [5]byte
	rand.Read(b[:])
	return "f" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func (m *Manager) newForward(f Forward) *forward {
	fw := &forward{Forward: f, m: m}
	fw.ctx, fw.cancel = context.WithCancel(m.ctx)
	return fw
}

// Forwards lists the forwards, oldest first.
func (m *Manager) Forwards() []ForwardInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ForwardInfo, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, m.forwards[id].info())
	}
	return out
}

// Forward returns one forward.
func (m *Manager) Forward(id string) (ForwardInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.forwards[id]
	if !ok {
		return ForwardInfo{}, false
	}
	return f.info(), true
}

func (f *forward) info() ForwardInfo {
	return ForwardInfo{Forward: f.Forward, Error: f.err,
		Connections: f.ctr.conns.Load(), Active: f.ctr.active.Load(), Failures: f.ctr.failures.Load(),
		BytesSent: f.ctr.sent.Load(), BytesReceived: f.ctr.received.Load()}
}

// AddForward starts a forward and saves it. Bad input is a *FieldError:
// a peer the Opener refuses (ErrPeer), a service name that is not a label
// (ErrName), a protocol (ErrProtocol), a listen address that does not
// parse or cannot be listened on (ErrListen; errors.Is(err,
// syscall.EADDRINUSE) when it is taken).
func (m *Manager) AddForward(f Forward) (ForwardInfo, error) {
	if err := m.cfg.Opener.CheckPeer(f.Peer); err != nil {
		return ForwardInfo{}, &FieldError{Field: "peer", Err: fmt.Errorf("%w: %w", ErrPeer, err)}
	}
	if !ValidName(f.Service) {
		return ForwardInfo{}, &FieldError{Field: "service", Err: fmt.Errorf("%q: %w", f.Service, ErrName)}
	}
	if f.Protocol == "" {
		f.Protocol = TCP
	}
	if f.Protocol != TCP && f.Protocol != UDP {
		return ForwardInfo{}, &FieldError{Field: "protocol", Err: fmt.Errorf("%q: %w", f.Protocol, ErrProtocol)}
	}
	if f.Listen == "" {
		f.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(f.Listen); err != nil {
		return ForwardInfo{}, &FieldError{Field: "listen", Err: fmt.Errorf("%q: %w: not host:port", f.Listen, ErrListen)}
	}
	f.ID = newForwardID()
	fw := m.newForward(f)
	if err := fw.listen(); err != nil {
		return ForwardInfo{}, &FieldError{Field: "listen", Err: err}
	}
	m.mu.Lock()
	m.forwards[f.ID] = fw
	m.order = append(m.order, f.ID)
	if err := m.saveForwardsLocked(); err != nil {
		delete(m.forwards, f.ID)
		m.order = m.order[:len(m.order)-1]
		m.mu.Unlock()
		fw.stop()
		return ForwardInfo{}, err
	}
	info := fw.info()
	m.mu.Unlock()
	fw.start()
	m.log.Info("forward started", "id", f.ID, "peer", f.Peer, "service", f.Service, "protocol", f.Protocol, "listen", fw.Listen)
	m.cfg.OnChange("forward")
	return info, nil
}

// RemoveForward stops a forward (its connections end) and forgets it.
func (m *Manager) RemoveForward(id string) error {
	m.mu.Lock()
	fw, ok := m.forwards[id]
	if !ok {
		m.mu.Unlock()
		return &FieldError{Field: "id", Err: fmt.Errorf("forward %q: %w", id, ErrNotFound)}
	}
	delete(m.forwards, id)
	i := indexOf(m.order, id)
	m.order = append(m.order[:i:i], m.order[i+1:]...)
	err := m.saveForwardsLocked()
	m.mu.Unlock()
	fw.stop()
	m.log.Info("forward stopped", "id", id)
	m.cfg.OnChange("forward")
	return err
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// listen binds the forward's address and records the actual one.
func (f *forward) listen() error {
	var err error
	switch f.Protocol {
	case UDP:
		var a *net.UDPAddr
		if a, err = net.ResolveUDPAddr("udp", f.Listen); err == nil {
			f.udp, err = net.ListenUDP("udp", a)
		}
		if err == nil {
			f.Listen = f.udp.LocalAddr().String()
		}
	default:
		f.ln, err = net.Listen("tcp", f.Listen)
		if err == nil {
			f.Listen = f.ln.Addr().String()
		}
	}
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%s: %w: in use: %w", f.Listen, ErrListen, syscall.EADDRINUSE)
		}
		return fmt.Errorf("%s: %w: %w", f.Listen, ErrListen, err)
	}
	return nil
}

// start serves the forward's listener.
func (f *forward) start() {
	switch {
	case f.ln != nil:
		f.m.goroutine(f.serveTCP)
	case f.udp != nil:
		f.m.goroutine(f.serveUDP)
	}
}

// stop closes the listener and ends the forward's connections.
func (f *forward) stop() {
	f.cancel()
	if f.ln != nil {
		f.ln.Close()
	}
	if f.udp != nil {
		f.udp.Close()
	}
}
