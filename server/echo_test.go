package server

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/openapi/openapitest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// call sends a JSON request and decodes the JSON answer into a map. The
// exchange is checked against the OpenAPI document.
func call(t *testing.T, method, url, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := openapitest.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode, m, resp.Header
}

func TestEcho(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	api := startServer(t, Config{Node: a})
	url := "http://" + api.Addr() + "/v1/echo"

	t.Run("peer answers", func(t *testing.T) {
		status, m, _ := call(t, "POST", url, `{"address":"`+b.Address()+`"}`)
		if status != 200 {
			t.Fatalf("status %d: %v", status, m)
		}
		if rtt, _ := m["rtt_ms"].(float64); rtt <= 0 {
			t.Errorf("rtt_ms = %v, want > 0", m["rtt_ms"])
		}
		if m["broker"] != rendezvoustest.MQTTURL(rv) {
			t.Errorf("broker = %v, want %s", m["broker"], rendezvoustest.MQTTURL(rv))
		}
	})

	t.Run("silent peer", func(t *testing.T) {
		// A well-formed address of a node that does not exist.
		pub, _, _ := ed25519.GenerateKey(nil)
		ghost, err := address.Parse(b.Address())
		if err != nil {
			t.Fatal(err)
		}
		ghost.NodeID = identity.NodeIDFromKey(pub)
		status, m, h := call(t, "POST", url, `{"address":"`+ghost.String()+`","timeout_ms":300}`)
		if status != http.StatusGatewayTimeout || h.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("status %d %s: %v", status, h.Get("Content-Type"), m)
		}
		if d, _ := m["detail"].(string); !strings.Contains(d, ghost.NodeID) {
			t.Errorf("detail %q does not name the peer", d)
		}
	})

	bad := []struct {
		name, body, want string
	}{
		{"empty body", ``, "empty body"},
		{"huge body", `{"address":"` + strings.Repeat("a", 2<<20) + `"}`, "body larger than"},
		{"not json", `{"address":`, "malformed JSON"},
		{"unknown field", `{"adress":"x"}`, `unknown field "adress"`},
		{"wrong type", `{"address":42}`, `field "address"`},
		{"no address", `{}`, "address: required"},
		{"bad port", `{"address":"` + strings.Replace(b.Address(), fmt.Sprintf(",%d,", b.Info().ListenPort), ",70000,", 1) + `"}`, "listen port"},
		{"bad node id", `{"address":"0-0-0-abc-0123456789abcdef"}`, "node id"},
		{"negative timeout", `{"address":"` + b.Address() + `","timeout_ms":-1}`, "timeout_ms"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			status, m, h := call(t, "POST", url, tt.body)
			if status != 400 || h.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d %s, want 400 problem: %v", status, h.Get("Content-Type"), m)
			}
			if d, _ := m["detail"].(string); !strings.Contains(d, tt.want) {
				t.Errorf("detail %q does not contain %q", d, tt.want)
			}
		})
	}
}
