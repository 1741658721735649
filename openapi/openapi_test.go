package openapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/reachd/reachd/openapi"
)

func load(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openapi.Document)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return doc
}

func TestDocumentValidates(t *testing.T) {
	doc := load(t)
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	// Validate checks parameter and media type examples and defaults too.
	if err := doc.Validate(context.Background(), openapi3.EnableMultiError()); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

// kin-openapi does not check the examples array of an OpenAPI 3.1 schema
// against the schema, so this test does.
func TestSchemaExamplesMatch(t *testing.T) {
	doc := load(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, ref := range doc.Components.Schemas {
		for i, ex := range ref.Value.Examples {
			n++
			if err := ref.Value.VisitJSON(ex, openapi3.EnableJSONSchema2020()); err != nil {
				t.Errorf("schema %s example %d does not match: %v", name, i, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no schema examples found")
	}
}

// The problem type URIs the document lists are the server's, and every
// problem response says which it is.
func TestProblemTypes(t *testing.T) {
	doc := load(t)
	var types []string
	for _, v := range doc.Components.Schemas["ProblemType"].Value.Enum {
		types = append(types, v.(string))
	}
	want := []string{"bad-request", "unauthorized", "bad-host", "bad-origin", "no-connection",
		"no-tap", "connection-tapped", "connection-busy", "tap-conflict", "tap-unsupported", "tap-unavailable",
		"network-not-joined", "network-joined", "network-subnet-taken", "not-ready",
		"connection-closed", "connection-aborted", "peer-refused", "connect-failed", "no-broker", "peer-timeout",
		"no-service", "no-forward", "address-in-use", "no-peer", "pair-refused", "pair-conflict", "pair-offers",
		"no-name", "name-taken", "name-refused", "no-name-service"}
	if len(types) != len(want) {
		t.Fatalf("problem types %v, want %d", types, len(want))
	}
	for i, w := range want {
		if types[i] != "https://reachd.dev/problems/"+w {
			t.Errorf("problem type %d = %q, want .../%s", i, types[i], w)
		}
	}
	for _, name := range []string{"BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed",
		"Gone", "InternalError", "PeerRefused", "ConnectFailed", "NoBroker", "PeerTimeout", "HeaderTooLarge",
		"InUse", "TapConflict", "TapUnavailable", "NetworkJoined", "NetworkNotJoined", "NetworkUnavailable"} {
		r := doc.Components.Responses[name]
		if r == nil || r.Value.Content.Get("application/problem+json") == nil {
			t.Errorf("response %s is not an application/problem+json response", name)
		}
	}
}

func TestHandlerServesTheDocument(t *testing.T) {
	rec := httptest.NewRecorder()
	openapi.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(body, openapi.Document) {
		t.Errorf("served %d bytes, not the embedded document (%d bytes)", len(body), len(openapi.Document))
	}
}
