package openapitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/reachd/reachd/openapi/openapitest"
)

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

// answer is a canned response.
type answer struct {
	status  int
	headers map[string]string
	body    string
}

const problem = "application/problem+json"

func TestTransport(t *testing.T) {
	tests := []struct {
		name         string
		method, path string
		ctype, body  string // request
		answer       answer
		wantMismatch string // "" when the exchange matches the document
	}{
		{"valid list", "GET", "/v1/connections", "", "",
			answer{200, map[string]string{"Content-Type": "application/json"}, `{"connections":[]}`}, ""},
		{"missing member", "GET", "/v1/connections", "", "",
			answer{200, map[string]string{"Content-Type": "application/json"}, `{}`}, "does not match the document"},
		{"undocumented member", "GET", "/v1/connections", "", "",
			answer{200, map[string]string{"Content-Type": "application/json"}, `{"connections":[],"more":1}`}, "does not match the document"},
		{"undocumented status", "GET", "/v1/connections", "", "",
			answer{418, map[string]string{"Content-Type": problem}, `{"title":"teapot","status":418}`}, "does not match the document"},
		{"wrong media type", "GET", "/v1/connections", "", "",
			answer{200, map[string]string{"Content-Type": "text/plain"}, `{"connections":[]}`}, "does not match the document"},
		{"invalid request accepted", "POST", "/v1/echo", "application/json", `{"adress":"x"}`,
			answer{200, map[string]string{"Content-Type": "application/json"}, `{"rtt_ms":1,"broker":"mqtt://b"}`}, "request does not match"},
		{"invalid request refused", "POST", "/v1/echo", "application/json", `{"adress":"x"}`,
			answer{400, map[string]string{"Content-Type": problem}, `{"type":"https://reachd.dev/problems/bad-request","title":"Bad Request","status":400,"detail":"unknown field"}`}, ""},
		{"problem of the wrong type", "POST", "/v1/echo", "application/json", `{}`,
			answer{400, map[string]string{"Content-Type": problem}, `{"type":"https://reachd.dev/problems/no-broker","title":"Bad Request","status":400}`}, "does not match the document"},
		{"connect problem without attempts", "POST", "/v1/connections", "application/json", `{}`,
			answer{502, map[string]string{"Content-Type": problem}, `{"type":"https://reachd.dev/problems/connect-failed","title":"x","status":502}`}, "does not match the document"},
		{"bytes", "GET", "/v1/connections/c1/recv?max=5", "", "",
			answer{200, map[string]string{"Content-Type": "application/octet-stream"}, "hello"}, ""},
		{"events", "GET", "/v1/events", "", "",
			answer{200, map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store"}, "retry: 2000\n\n"}, ""},
		{"events without Cache-Control", "GET", "/v1/events", "", "",
			answer{200, map[string]string{"Content-Type": "text/event-stream"}, "retry: 2000\n\n"}, "does not match the document"},
		{"unauthorized without WWW-Authenticate", "GET", "/v1/node", "", "",
			answer{401, map[string]string{"Content-Type": problem}, `{"type":"https://reachd.dev/problems/unauthorized","title":"Unauthorized","status":401}`}, "does not match the document"},
		{"unknown route", "GET", "/v1/nothing", "", "",
			answer{404, map[string]string{"Content-Type": problem}, `{"title":"Not Found","status":404,"detail":"no route"}`}, ""},
		{"unknown route answered", "GET", "/v1/nothing", "", "",
			answer{200, map[string]string{"Content-Type": "application/json"}, `{}`}, "not in the document"},
		{"unknown method", "PUT", "/v1/connections", "", "",
			answer{405, map[string]string{"Content-Type": problem}, `{"title":"Method Not Allowed","status":405}`}, ""},
		{"unknown method, wrong problem", "PUT", "/v1/connections", "", "",
			answer{405, map[string]string{"Content-Type": "text/plain"}, `nope`}, "does not match #/components/responses/MethodNotAllowed"},
		{"metrics", "GET", "/metrics", "", "",
			answer{200, map[string]string{"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}, "reachd_ready 1\n"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				for k, v := range tt.answer.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.answer.status)
				io.WriteString(w, tt.answer.body)
			}))
			defer srv.Close()
			rec := &recorder{TB: t}
			client := &http.Client{Transport: openapitest.Transport(rec, nil)}
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != tt.answer.body {
				t.Errorf("body handed on %q, want %q", got, tt.answer.body)
			}
			all := strings.Join(rec.errs, "\n")
			switch {
			case tt.wantMismatch == "" && len(rec.errs) > 0:
				t.Errorf("unexpected mismatch:\n%s", all)
			case tt.wantMismatch != "" && !strings.Contains(all, tt.wantMismatch):
				t.Errorf("mismatch %q not reported; got:\n%s", tt.wantMismatch, all)
			}
		})
	}
}

func TestCheckSchema(t *testing.T) {
	ok := `{"id":7,"type":"attempt","time":"2026-11-21T09:37:15.045418047Z","attempt":{"peer":"csm3i3dmbs66i5jyci6bn7v22quxboxjhl6hfhc4oy4aubl2fmgq","name":"direct","outcome":"trying","ms":0,"started_ms":0,"finished_ms":0}}`
	rec := &recorder{TB: t}
	openapitest.CheckSchema(rec, "Event", []byte(ok))
	if len(rec.errs) > 0 {
		t.Errorf("valid event refused: %v", rec.errs)
	}
	for _, bad := range []string{
		strings.Replace(ok, `"trying"`, `"maybe"`, 1),
		strings.Replace(ok, `"type":"attempt"`, `"type":"bytes"`, 1),
		strings.Replace(ok, `"attempt":{`, `"attempts":{`, 1),
	} {
		rec := &recorder{TB: t}
		openapitest.CheckSchema(rec, "Event", []byte(bad))
		if len(rec.errs) == 0 {
			t.Errorf("invalid event accepted: %s", bad)
		}
	}
}
