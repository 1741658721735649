package server

import (
	"net/http"
	"testing"
)

// TestPolicyRoutes changes the inbound policy through the API and checks
// each answer against the document and the node.
func TestPolicyRoutes(t *testing.T) {
	s := startServer(t, Config{})
	base := "http://" + s.Addr()
	const peer = "5jrsgjbuxktsfdrpkecgvlhinqphbcb5qgygoyiwvvfczpf76sba"
	steps := []struct {
		method, path, body string
		status             int
		accept             string
		allowed            int
	}{
		{"GET", "/v1/policy", "", http.StatusOK, "any", 0},
		{"PUT", "/v1/policy", `{"accept":"allowlist"}`, http.StatusOK, "allowlist", 0},
		{"PUT", "/v1/policy/allow/" + peer, "", http.StatusOK, "allowlist", 1},
		{"PUT", "/v1/policy/allow/" + peer, "", http.StatusOK, "allowlist", 1}, // idempotent
		{"PUT", "/v1/policy/allow/nonsense", "", http.StatusBadRequest, "", 0},
		{"PUT", "/v1/policy", `{"accept":"everyone"}`, http.StatusBadRequest, "", 0},
		{"PUT", "/v1/policy", `{}`, http.StatusBadRequest, "", 0},
		{"DELETE", "/v1/policy/allow/" + peer, "", http.StatusOK, "allowlist", 0},
		{"DELETE", "/v1/policy/allow/" + peer, "", http.StatusNotFound, "", 0},
	}
	for _, st := range steps {
		status, body, _ := call(t, st.method, base+st.path, st.body)
		if status != st.status {
			t.Fatalf("%s %s %s: %d %v, want %d", st.method, st.path, st.body, status, body, st.status)
		}
		if st.accept == "" {
			continue
		}
		allow, _ := body["allow"].([]any)
		if body["accept"] != st.accept || len(allow) != st.allowed {
			t.Errorf("%s %s: %v, want accept %s with %d allowed", st.method, st.path, body, st.accept, st.allowed)
		}
		if got := s.cfg.Node.Info().Policy; got.Accept != st.accept || len(got.Allow) != st.allowed {
			t.Errorf("%s %s: the node's policy is %+v", st.method, st.path, got)
		}
	}
}
