package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/openapi/openapitest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Node == nil {
		cfg.Node = nodetest.Start(t, rendezvoustest.Start(t))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCheckSecurity(t *testing.T) {
	tests := []struct {
		addr, token string
		ok          bool
	}{
		{"", "", true},
		{"127.0.0.1:12333", "", true},
		{"[::1]:12333", "", true},
		{"localhost:12333", "", true},
		{"0.0.0.0:12333", "", false},
		{":12333", "", false},
		{"10.0.0.1:12333", "", false},
		{"0.0.0.0:12333", "secret", true},
	}
	for _, tt := range tests {
		err := Config{Addr: tt.addr, Token: tt.token}.CheckSecurity()
		if (err == nil) != tt.ok {
			t.Errorf("CheckSecurity(%q, token %q) = %v, want ok=%v", tt.addr, tt.token, err, tt.ok)
		}
	}
}

func TestNotFoundIsProblem(t *testing.T) {
	s := startServer(t, Config{})
	tests := []struct {
		name, method, path string
		status             int
		detail             string
		allow              string
	}{
		{"no route", "GET", "/v1/nothing", 404, "/v1/nothing", ""},
		{"wrong method", "PUT", "/v1/connections", 405, "PUT", "GET, HEAD, POST"},
		{"wrong method on one", "POST", "/v1/connections/c1", 405, "POST", "GET, HEAD, DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://"+s.Addr()+tt.path, nil)
			resp, err := openapitest.Client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if resp.StatusCode != tt.status || p.Status != tt.status || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("got %d %+v, want %d naming %q", resp.StatusCode, p, tt.status, tt.detail)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}
