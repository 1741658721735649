package server

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The API's defences, in the order they run:
//
//   - Host: without a token the API listens on loopback, and a request
//     must name it by a loopback name (localhost, 127.0.0.1, [::1]). A page
//     on a DNS-rebound name (evil.example resolving to 127.0.0.1) is refused.
//     With a token, the token is the defence and any name is accepted.
//   - Origin: a browser request from another site (its Origin header is not
//     the API's own origin) is refused unless --api-cors lists that origin;
//     listed origins get CORS headers, and their preflight is answered.
//   - Token: with a token, every request but those for the dashboard's own
//     files (GET / and /static/...) must carry it, as
//     "Authorization: Bearer <token>" or, only on GET of the event stream
//     and of a connection's WebSocket (browsers' EventSource and WebSocket
//     cannot set headers), as the access_token query parameter: a token in
//     a URL ends up in logs and history, and must not unlock changes.

// guard applies the Host, Origin and token rules.
func (s *Server) guard(next http.Handler) http.Handler {
	want := []byte(s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token == "" && !loopbackHost(r.Host) {
			p := problemf(http.StatusForbidden, "host %q is not this API's name: use 127.0.0.1, localhost or [::1]", r.Host)
			p.Type = problemType("bad-host")
			writeProblem(w, p)
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r.Host) {
			if !slices.Contains(s.cfg.CORSOrigins, origin) {
				p := problemf(http.StatusForbidden, "origin %q may not use this API (see --api-cors)", origin)
				p.Type = problemType("bad-origin")
				writeProblem(w, p)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if s.cfg.Token != "" && !publicFile(r) {
			got, ok := bearerToken(r.Header.Get("Authorization"))
			if !ok && queryTokenAllowed(r) {
				got = r.URL.Query().Get("access_token")
			}
			if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="reachd"`)
				p := problemf(http.StatusUnauthorized, "missing or wrong API token: send Authorization: Bearer <token>")
				p.Type = problemType("unauthorized")
				writeProblem(w, p)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// queryTokenAllowed reports whether r may carry the token as the
// access_token query parameter: a GET of the event stream or of a
// connection's WebSocket, which browsers open without headers.
func queryTokenAllowed(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	if r.URL.Path == "/v1/events" {
		return true
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/v1/connections/")
	id, ok2 := strings.CutSuffix(id, "/stream")
	return ok && ok2 && id != "" && !strings.Contains(id, "/")
}

// bearerToken returns the credentials of an Authorization header of the
// Bearer scheme, whose name is case-insensitive (RFC 9110, section 11.1).
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimLeft(token, " "), true
}

// publicFile reports whether r asks for one of the dashboard's files,
// which hold no data and must load before the dashboard can ask for the
// token.
func publicFile(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/static/")
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return isLoopbackHost(strings.Trim(host, "[]"))
}

// sameOrigin reports whether origin is the API's own (the dashboard).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host == host
}
