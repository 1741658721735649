package server

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"github.com/reachd/reachd/openapi/openapitest"
)

// openAPIPath turns a chi route pattern into the document's path template:
// the only wildcard route, /static/*, is /static/{file} there.
func openAPIPath(route string) string {
	if strings.HasSuffix(route, "/*") {
		return strings.TrimSuffix(route, "*") + "{file}"
	}
	return route
}

// examplePath fills the path template of a documented operation with its
// parameters' examples.
func examplePath(doc *openapi3.T, method, path string) string {
	op := doc.Paths.Value(path).GetOperation(method)
	url := path
	for _, p := range append(doc.Paths.Value(path).Parameters, op.Parameters...) {
		if p.Value.In != "path" {
			continue
		}
		ex := p.Value.Example
		if ex == nil && len(p.Value.Schema.Value.Examples) > 0 {
			ex = p.Value.Schema.Value.Examples[0]
		}
		url = strings.ReplaceAll(url, "{"+p.Value.Name+"}", ex.(string))
	}
	return url
}

// TestRoutesAreDocumented checks that the router and the OpenAPI document
// list the same operations, and that the server routes every documented
// operation: none is answered by the router's 404 or 405.
func TestRoutesAreDocumented(t *testing.T) {
	s := startServer(t, Config{})
	routes, ok := s.Handler().(chi.Routes)
	if !ok {
		t.Fatalf("Handler is a %T, not a chi router", s.Handler())
	}
	var routed []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routed = append(routed, method+" "+openAPIPath(route))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	doc := openapitest.Document(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(routed)
	slices.Sort(documented)
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in the OpenAPI document", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("documented %s is not routed", d)
		}
	}
	if len(routed) < 10 {
		t.Fatalf("only %d routes walked: %v", len(routed), routed)
	}

	// Send each documented operation, with the parameters' examples and no
	// body, through the validating client.
	client := openapitest.Client(t)
	for _, d := range documented {
		method, path, _ := strings.Cut(d, " ")
		t.Run(d, func(t *testing.T) {
			url := examplePath(doc, method, path)
			req, _ := http.NewRequest(method, "http://"+s.Addr()+url, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("Content-Type") == "text/event-stream" {
				return // routed; the stream stays open
			}
			body, _ := io.ReadAll(resp.Body)
			var p struct {
				Type   string `json:"type"`
				Detail string `json:"detail"`
			}
			json.Unmarshal(body, &p)
			if resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotFound && strings.HasPrefix(p.Detail, "no route") {
				t.Errorf("documented %s %s answered by the router: %d %s", method, url, resp.StatusCode, body)
			}
		})
	}
}
