package network

import (
	"errors"
	"fmt"
	"strings"
)

// Host names: a member announces one (Config.HostName), and the others
// name it host.network wherever a peer is named (node.Resolve).

// Errors of MemberByHost.
var (
	// ErrNoHost: no member of the network announces that host name.
	ErrNoHost = errors.New("network: no member announces that host name")
	// ErrHostAmbiguous: more than one member announces it.
	ErrHostAmbiguous = errors.New("network: more than one member announces that host name")
)

// ValidHostName reports whether s is a DNS label: 1 to 63 of a-z, 0-9 and
// -, not starting or ending with -.
func ValidHostName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// HostLabel makes a DNS label of a machine's host name: its first label,
// lower case, each other character as -, cut to 63; "" when nothing is
// left.
func HostLabel(s string) string {
	s, _, _ = strings.Cut(strings.ToLower(s), ".")
	b := []byte(s)
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return strings.Trim(string(b), "-")
}

// MemberByHost finds the member of a joined network that announces host.
func (m *Manager) MemberByHost(network, host string) (Member, error) {
	m.mu.Lock()
	n, ok := m.nets[network]
	m.mu.Unlock()
	if !ok {
		return Member{}, fmt.Errorf("%w: %s", ErrNotJoined, network)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var found *member
	for _, mb := range n.members {
		if mb.host != host {
			continue
		}
		if found != nil {
			return Member{}, fmt.Errorf("%q in %s: %w (%s and %s)", host, network, ErrHostAmbiguous, found.id, mb.id)
		}
		found = mb
	}
	if found == nil {
		return Member{}, fmt.Errorf("%q in %s: %w", host, network, ErrNoHost)
	}
	return Member{NodeID: found.id, Host: found.host, Address: found.address}, nil
}
