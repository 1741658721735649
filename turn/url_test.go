package turn_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/reachd/reachd/turn"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want turn.Server
	}{
		{"ipv4", "turn://user:pass@192.0.2.1:3479", turn.Server{Host: "192.0.2.1", Port: 3479, Username: "user", Password: "pass"}},
		{"name", "turn://u:p@turn.example.com:443", turn.Server{Host: "turn.example.com", Port: 443, Username: "u", Password: "p"}},
		{"ipv6", "turn://u:p@[2001:db8::1]:3478", turn.Server{Host: "2001:db8::1", Port: 3478, Username: "u", Password: "p"}},
		{"default port", "turn://u:p@turn.example.com", turn.Server{Host: "turn.example.com", Port: 3478, Username: "u", Password: "p"}},
		{"trailing slash", "turn://u:p@h:1/", turn.Server{Host: "h", Port: 1, Username: "u", Password: "p"}},
		{"upper-case scheme", "TURN://u:p@h:1", turn.Server{Host: "h", Port: 1, Username: "u", Password: "p"}},
		{"percent-encoded", "turn://us%40er:p%3Aa%2Fss@h:1", turn.Server{Host: "h", Port: 1, Username: "us@er", Password: "p:a/ss"}},
		{"colon in password", "turn://u:a:b@h:1", turn.Server{Host: "h", Port: 1, Username: "u", Password: "a:b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := turn.ParseURL(tc.in)
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseURL(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"host:port only", "127.0.0.1:3478", "missing scheme turn://"},
		{"no scheme", "//u:p@h:1", "missing scheme turn://"},
		{"tls", "turns://u:p@h:5349", "turns (TURN over TLS) is not supported"},
		{"stun", "stun://h:3478", `scheme "stun" is not turn`},
		{"rfc 7065 form", "turn:h:3478", "missing // after turn:"},
		{"no credential", "turn://h:3478", "missing user name"},
		{"no user name", "turn://:secret@h:3478", "missing user name"},
		{"no password", "turn://user@h:3478", "missing password"},
		{"empty password", "turn://user:@h:3478", "missing password"},
		{"no host", "turn://u:secret@:3478", "missing host"},
		{"port zero", "turn://u:secret@h:0", `port "0" is not in 1-65535`},
		{"port too big", "turn://u:secret@h:65536", `port "65536" is not in 1-65535`},
		{"port not a number", "turn://u:secret@h:abc", "invalid port"},
		{"empty port", "turn://u:secret@h:", "empty port"},
		{"path", "turn://u:secret@h:1/x", `unexpected path "/x"`},
		{"query", "turn://u:secret@h:1?transport=udp", `unexpected query "transport=udp"`},
		{"fragment", "turn://u:secret@h:1#x", `unexpected fragment "x"`},
		{"space", "turn://u:sec ret@h:1", "contains white space"},
		{"bad escape", "turn://u:sec%zzret@h:1", "invalid URL escape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := turn.ParseURL(tc.in)
			if err == nil {
				t.Fatalf("ParseURL(%q) = %+v, want an error", tc.in, got)
			}
			if !errors.Is(err, turn.ErrInvalidURL) {
				t.Errorf("error %q does not wrap ErrInvalidURL", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "sec ret") ||
				strings.Contains(err.Error(), "zzret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestServerString(t *testing.T) {
	s := turn.Server{Host: "2001:db8::1", Port: 3478, Username: "u", Password: "secret"}
	if got, want := s.String(), "turn://u@[2001:db8::1]:3478"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := s.Addr(), "[2001:db8::1]:3478"; got != want {
		t.Errorf("Addr() = %q, want %q", got, want)
	}
}

// FuzzParseURL checks that ParseURL never panics, that what it accepts
// survives a round trip, and that its errors never show the password of a
// URL it could split.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"turn://user:pass@127.0.0.1:3478", "turn://u:p@[::1]:1", "turn://u:p@h", "turns://u:p@h:1",
		"turn://u:p%41@h:1", "turn:h:3478", "turn://u@h:1", "", "turn://u:p@h:1?x#y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		srv, err := turn.ParseURL(s)
		if err != nil {
			if !errors.Is(err, turn.ErrInvalidURL) {
				t.Fatalf("error %q does not wrap ErrInvalidURL", err)
			}
			return
		}
		if srv.Host == "" || srv.Port == 0 || srv.Username == "" || srv.Password == "" {
			t.Fatalf("ParseURL(%q) = %+v: a field is empty", s, srv)
		}
		u := url.URL{Scheme: "turn", User: url.UserPassword(srv.Username, srv.Password), Host: srv.Addr()}
		again, err := turn.ParseURL(u.String())
		if err != nil {
			t.Fatalf("ParseURL(%q) = %+v, but its URL %q fails: %v", s, srv, u.String(), err)
		}
		if again != srv {
			t.Fatalf("round trip of %q: %+v, then %+v", s, srv, again)
		}
	})
}
