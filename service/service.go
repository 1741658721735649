// Package service offers a node's local services to its peers and reaches
// its peers' services through local ports.
//
// A Service is a name (a DNS label), a target host:port, a protocol (tcp
// or udp) and who may use it. A peer opens a session stream whose header
// names the service; Manager.Lookup says whether the peer may, and
// Manager.Serve connects the stream to the target. A Forward listens on a
// local address and opens a stream to a peer's service for each local TCP
// connection, or each UDP source address, and copies both ways. UDP
// datagrams travel as length-prefixed frames (session.KindFrames), one
// stream per flow.
//
// The package does not open streams or decide on links itself: the node
// does, through the Opener it implements. Services and forwards are saved
// in the node's state file (sections "services" and "forwards") and
// restored by New.
package service

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Protocols.
const (
	TCP = "tcp"
	UDP = "udp"
)

// Any in an allow list lets every peer use the service.
const Any = "any"

// NoSuchService is the reason a stream is aborted with when its service
// does not exist or its peer may not use it: the same for both, so that a
// stranger cannot list a node's services.
const NoSuchService = "no such service"

// Errors of bad input; callers use errors.Is. Each is wrapped with the
// field it concerns (a *FieldError).
var (
	ErrName     = errors.New("not a DNS label ([a-z0-9-]{1,63})")
	ErrTarget   = errors.New("not a host:port")
	ErrProtocol = errors.New("want tcp or udp")
	ErrAllow    = errors.New("want node IDs or any")
	ErrNotFound = errors.New("not found")
	ErrListen   = errors.New("cannot listen")
	ErrPeer     = errors.New("not a peer")
)

// FieldError is bad input in one field of a service or a forward.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

var labelRE = regexp.MustCompile(`^[a-z0-9-]{1,63}$`)

// ValidName reports whether name is a DNS label: [a-z0-9-]{1,63}.
func ValidName(name string) bool { return labelRE.MatchString(name) }

// Service is a local service offered to peers.
type Service struct {
	Name string `json:"name"`
	// Target is host:port; a bare :port or port means 127.0.0.1.
	Target   string   `json:"target"`
	Protocol string   `json:"protocol"`
	Allow    []string `json:"allow"`
}

// nodeIDLen is the length of a node ID (base32 of an Ed25519 key).
const nodeIDLen = 52

// Check validates s and fills its defaults: protocol tcp, a target on
// loopback when it names no host.
func (s Service) Check() (Service, error) {
	if !ValidName(s.Name) {
		return s, &FieldError{Field: "name", Err: fmt.Errorf("%q: %w", s.Name, ErrName)}
	}
	if s.Protocol == "" {
		s.Protocol = TCP
	}
	if s.Protocol != TCP && s.Protocol != UDP {
		return s, &FieldError{Field: "protocol", Err: fmt.Errorf("%q: %w", s.Protocol, ErrProtocol)}
	}
	t, err := ParseTarget(s.Target)
	if err != nil {
		return s, &FieldError{Field: "target", Err: err}
	}
	s.Target = t
	if len(s.Allow) == 0 {
		return s, &FieldError{Field: "allow", Err: fmt.Errorf("nobody: %w (there is no default)", ErrAllow)}
	}
	allow := make([]string, 0, len(s.Allow))
	for _, a := range s.Allow {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != Any && !validNodeID(a) {
			return s, &FieldError{Field: "allow", Err: fmt.Errorf("%q: %w", a, ErrAllow)}
		}
		if !slices.Contains(allow, a) {
			allow = append(allow, a)
		}
	}
	s.Allow = allow
	return s, nil
}

func validNodeID(id string) bool {
	if len(id) != nodeIDLen {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// Allows reports whether the peer with this node ID may use s.
func (s Service) Allows(peer string) bool {
	return slices.Contains(s.Allow, Any) || slices.Contains(s.Allow, peer)
}

// ParseTarget reads a service's target: host:port, where a missing host
// means 127.0.0.1 (":22" or "22"). The port must be 1 to 65535.
func ParseTarget(t string) (string, error) {
	if t == "" {
		return "", fmt.Errorf("empty: %w", ErrTarget)
	}
	if _, err := strconv.ParseUint(t, 10, 16); err == nil {
		t = ":" + t
	}
	host, port, err := net.SplitHostPort(t)
	if err != nil {
		return "", fmt.Errorf("%q: %w", t, ErrTarget)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("%q: port %q: %w", t, port, ErrTarget)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if _, err := netip.ParseAddr(host); err != nil && !ValidHost(host) {
		return "", fmt.Errorf("%q: host %q: %w", t, host, ErrTarget)
	}
	return net.JoinHostPort(host, port), nil
}

// ValidHost reports whether h is a DNS name: dot-separated labels of
// letters, digits and hyphens.
func ValidHost(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if !labelRE.MatchString(strings.ToLower(l)) {
			return false
		}
	}
	return true
}
