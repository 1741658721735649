package server

import (
	"net/http"
	"testing"

	"github.com/reachd/reachd/openapi/openapitest"
)

func TestHostOriginAndToken(t *testing.T) {
	open := startServer(t, Config{CORSOrigins: []string{"https://app.example"}})
	locked := startServer(t, Config{Token: "s3cret"})
	tests := []struct {
		name    string
		srv     *Server
		method  string
		path    string
		headers map[string]string
		status  int
		acao    string // wanted Access-Control-Allow-Origin
	}{
		{"loopback IP host", open, "GET", "/v1/node", nil, 200, ""},
		{"localhost host", open, "GET", "/v1/node", map[string]string{"Host": "localhost:12333"}, 200, ""},
		{"rebound host refused", open, "GET", "/v1/node", map[string]string{"Host": "evil.example:12333"}, 403, ""},
		{"other site refused", open, "GET", "/v1/node", map[string]string{"Origin": "https://evil.example"}, 403, ""},
		{"other site cannot post", open, "POST", "/v1/echo", map[string]string{"Origin": "https://evil.example"}, 403, ""},
		{"listed origin allowed", open, "GET", "/v1/node", map[string]string{"Origin": "https://app.example"}, 200, "https://app.example"},
		{"listed origin preflight", open, "OPTIONS", "/v1/connections", map[string]string{
			"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, 204, "https://app.example"},
		{"token: any host with token", locked, "GET", "/v1/node", map[string]string{"Host": "node.example:12333", "Authorization": "Bearer s3cret"}, 200, ""},
		{"token: missing", locked, "GET", "/v1/node", nil, 401, ""},
		{"token: wrong", locked, "GET", "/v1/node", map[string]string{"Authorization": "Bearer guess"}, 401, ""},
		{"token: scheme in lower case", locked, "GET", "/v1/node", map[string]string{"Authorization": "bearer s3cret"}, 200, ""},
		{"token: scheme in upper case", locked, "GET", "/v1/node", map[string]string{"Authorization": "BEARER s3cret"}, 200, ""},
		{"token: wrong in lower case", locked, "GET", "/v1/node", map[string]string{"Authorization": "bearer guess"}, 401, ""},
		{"token: scheme alone", locked, "GET", "/v1/node", map[string]string{"Authorization": "Bearer"}, 401, ""},
		{"token: not bearer", locked, "GET", "/v1/node", map[string]string{"Authorization": "Basic s3cret"}, 401, ""},
		{"token: query for browsers' event stream", locked, "GET", "/v1/events?access_token=s3cret", nil, 200, ""},
		{"token: wrong query", locked, "GET", "/v1/events?access_token=nope", nil, 401, ""},
		{"token: the dashboard loads without", locked, "GET", "/", nil, 200, ""},
		{"token: its files too", locked, "GET", "/static/style.css", nil, 200, ""},
		{"token: but not the API", locked, "GET", "/v1/connections", nil, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://"+tt.srv.Addr()+tt.path, nil)
			for k, v := range tt.headers {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := openapitest.Client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.acao {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.acao)
			}
			if tt.status >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("content type %q, want a problem", resp.Header.Get("Content-Type"))
			}
		})
	}
}

// TestQueryTokenOutsideStreamsRefused: a token in the URL (which ends up
// in logs and browser history) unlocks only the two streams browsers open
// without headers; it cannot change the policy, open a connection or read
// anything else.
func TestQueryTokenOutsideStreamsRefused(t *testing.T) {
	srv := startServer(t, Config{Token: "s3cret"})
	for _, tt := range []struct {
		method, path string
		refused      bool
	}{
		{"PUT", "/v1/policy", true},
		{"POST", "/v1/connections", true},
		{"GET", "/v1/node", true},
		{"GET", "/v1/connections", true},
		{"DELETE", "/v1/connections/c1", true},
		{"POST", "/v1/events", true},
		{"GET", "/v1/connections/c1/stream/x", true},
		{"GET", "/v1/events", false},
		{"GET", "/v1/connections/c1/stream", false},
	} {
		req, _ := http.NewRequest(tt.method, "http://"+srv.Addr()+tt.path+"?access_token=s3cret", nil)
		resp, err := openapitest.Client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.StatusCode == http.StatusUnauthorized; got != tt.refused {
			t.Errorf("%s %s with the token in the query: %d, refused %v, want refused %v", tt.method, tt.path, resp.StatusCode, got, tt.refused)
		}
	}
}
