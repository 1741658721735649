package turn

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPort is the TURN port used when a URL names none (RFC 8656).
const DefaultPort = 3478

// Server is a TURN server and the long-term credential to use on it, as
// parsed from turn://user:pass@host:port.
type Server struct {
	Host     string // host name or IP address, without brackets
	Port     uint16
	Username string
	Password string
}

// Addr returns host:port, with brackets around an IPv6 host.
func (s Server) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(int(s.Port)))
}

// String returns the server as a URL without its password, safe to log.
func (s Server) String() string {
	u := url.URL{Scheme: "turn", User: url.User(s.Username), Host: s.Addr()}
	return u.String()
}

// ParseURL parses turn://user:pass@host[:port]. User name and password are
// required and may be percent-encoded; the port defaults to DefaultPort.
// The scheme must be turn: turns (TLS) is not supported. Errors wrap
// ErrInvalidURL, name what is wrong, and never contain the password.
func ParseURL(s string) (Server, error) {
	redacted := redact(s)
	bad := func(format string, args ...any) (Server, error) {
		return Server{}, fmt.Errorf("%w %q: %s", ErrInvalidURL, redacted, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(s) == "" {
		return bad("empty")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return bad("contains white space")
	}
	if !strings.Contains(s, "://") {
		if len(s) >= 5 && strings.EqualFold(s[:5], "turn:") {
			return bad("missing // after turn:")
		}
		return bad("missing scheme turn://")
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL, password included
		}
		return bad("%v", err)
	}
	switch {
	case u.Scheme == "":
		return bad("missing scheme turn://")
	case strings.EqualFold(u.Scheme, "turns"):
		return bad("scheme turns (TURN over TLS) is not supported; use turn://")
	case !strings.EqualFold(u.Scheme, "turn"):
		return bad("scheme %q is not turn", u.Scheme)
	case u.Path != "" && u.Path != "/":
		return bad("unexpected path %q", u.Path)
	case u.RawQuery != "" || u.ForceQuery:
		return bad("unexpected query %q (the transport is always TCP)", u.RawQuery)
	case u.Fragment != "":
		return bad("unexpected fragment %q", u.Fragment)
	case u.User == nil || u.User.Username() == "":
		return bad("missing user name (turn://user:pass@host:port)")
	}
	pass, ok := u.User.Password()
	if !ok || pass == "" {
		return bad("missing password (turn://user:pass@host:port)")
	}
	host := u.Hostname()
	if host == "" {
		return bad("missing host")
	}
	port := DefaultPort
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port %q is not in 1-65535", p)
		}
		port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	return Server{Host: host, Port: uint16(port), Username: u.User.Username(), Password: pass}, nil
}

// redact hides the password of a URL-looking string, even one url.Parse
// rejects: everything between the first ':' after "//" and the last '@'.
func redact(s string) string {
	i := strings.Index(s, "//")
	if i < 0 {
		return s
	}
	rest := s[i+2:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	userinfo := rest[:at]
	if c := strings.Index(userinfo, ":"); c >= 0 {
		userinfo = userinfo[:c] + ":xxxxx"
	}
	return s[:i+2] + userinfo + rest[at:]
}
