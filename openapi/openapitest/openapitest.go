// Package openapitest checks HTTP traffic against reachd's OpenAPI document
// (package openapi) in tests: an http.RoundTripper that validates every
// request and response it carries, and a check of JSON values against the
// document's component schemas. It validates; it does not generate traffic.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/reachd/reachd/openapi"
)

var (
	loadOnce sync.Once
	loaded   *openapi3.T
	router   routers.Router
	loadErr  error
)

func init() {
	// kin-openapi decodes no HTML out of the box; the dashboard is text.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// Document returns the loaded and validated OpenAPI document, shared by
// all tests: do not modify it.
func Document(tb testing.TB) *openapi3.T {
	tb.Helper()
	loadOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(openapi.Document)
		if err != nil {
			loadErr = fmt.Errorf("openapitest: load: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			loadErr = fmt.Errorf("openapitest: validate: %w", err)
			return
		}
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			loadErr = fmt.Errorf("openapitest: router: %w", err)
			return
		}
		loaded, router = doc, r
	})
	if loadErr != nil {
		tb.Fatal(loadErr)
	}
	return loaded
}

// Client is an HTTP client whose transport is Transport(tb, nil).
func Client(tb testing.TB) *http.Client {
	tb.Helper()
	return &http.Client{Transport: Transport(tb, nil)}
}

// Transport returns a RoundTripper that sends requests through base (nil:
// http.DefaultTransport) and fails tb (Errorf) when a request, or the
// response to it, does not match the document:
//
//   - A request for a path and method the document does not list must be
//     answered by the router's 404 or 405 problem (or refused by the
//     security rules with 401 or 403). A CORS preflight must be answered 204
//     or refused with 403.
//   - A request the document lists is validated (parameters, body). One that
//     does not match must be answered with a 4xx status, which is then
//     validated like any response; the server may be laxer than the
//     document, never the other way round.
//   - Every response is validated: its status must be documented for the
//     operation, and its headers, media type and body must match.
//   - A 101 (WebSocket) or text/event-stream response is checked up to its
//     headers; its body is handed on untouched.
//   - A HEAD request for a path whose document lists no HEAD operation is
//     checked as the path's GET (every GET route answers HEAD), its answer
//     up to its headers; it must have no body.
func Transport(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	tb.Helper()
	if base == nil {
		base = http.DefaultTransport
	}
	Document(tb)
	return &transport{tb: tb, base: base}
}

type transport struct {
	tb   testing.TB
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("openapitest: read request body: %w", err)
		}
		body = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, routeErr := router.FindRoute(vreq)
	head := req.Method == http.MethodHead
	if head && errors.Is(routeErr, routers.ErrMethodNotAllowed) {
		// No HEAD operation of its own: HEAD is the path's GET.
		vreq.Method = http.MethodGet
		route, params, routeErr = router.FindRoute(vreq)
	}

	var in *openapi3filter.RequestValidationInput
	var reqErr error
	if routeErr == nil {
		in = &openapi3filter.RequestValidationInput{
			Request:    vreq,
			PathParams: params,
			Route:      route,
			Options: &openapi3filter.Options{
				AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
				SkipSettingDefaults: true,
			},
		}
		reqErr = openapi3filter.ValidateRequest(req.Context(), in)
	}

	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	what := req.Method + " " + req.URL.RequestURI()
	switch {
	case isPreflight(req):
		t.checkUnlisted(what, resp, http.StatusNoContent, http.StatusForbidden)
	case errors.Is(routeErr, routers.ErrPathNotFound):
		t.checkUnlisted(what, resp, http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden)
	case errors.Is(routeErr, routers.ErrMethodNotAllowed):
		t.checkUnlisted(what, resp, http.StatusMethodNotAllowed, http.StatusUnauthorized, http.StatusForbidden)
	case routeErr != nil:
		t.tb.Errorf("openapitest: %s: find route: %v", what, routeErr)
	default:
		if reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode > 499) {
			t.tb.Errorf("openapitest: %s: the request does not match the document, yet the answer is %d:\n%v", what, resp.StatusCode, reqErr)
		}
		t.checkResponse(what, in, resp, head)
	}
	return resp, nil
}

// isPreflight reports whether req is a CORS preflight, which the document
// does not list as operations.
func isPreflight(req *http.Request) bool {
	return req.Method == http.MethodOptions && req.Header.Get("Origin") != "" && req.Header.Get("Access-Control-Request-Method") != ""
}

// checkResponse validates resp as an answer to the operation of in.
// A HEAD answer has no body: only its status and headers are checked, and
// its Content-Type must be one the document lists.
func (t *transport) checkResponse(what string, in *openapi3filter.RequestValidationInput, resp *http.Response, head bool) {
	ct := resp.Header.Get("Content-Type")
	stream := resp.StatusCode == http.StatusSwitchingProtocols || strings.HasPrefix(ct, "text/event-stream") || head
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			ExcludeResponseBody:   stream,
		},
	}
	var body []byte
	if head {
		if b, _ := io.ReadAll(resp.Body); len(b) > 0 {
			t.tb.Errorf("openapitest: %s: a HEAD answer with a body: %.200s", what, b)
		}
		resp.Body.Close()
		resp.Body = http.NoBody
	} else if !stream {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if err != nil {
			t.tb.Errorf("openapitest: %s: read response body: %v", what, err)
			return
		}
		body = b
		out.SetBodyBytes(b)
	}
	if err := openapi3filter.ValidateResponse(in.Request.Context(), out); err != nil {
		t.tb.Errorf("openapitest: %s: response %d does not match the document:\n%v\nbody: %.2000s", what, resp.StatusCode, err, body)
		return
	}
	doc := in.Route.Operation.Responses.Status(resp.StatusCode)
	if doc == nil || doc.Value == nil {
		return // ValidateResponse has complained
	}
	switch content := doc.Value.Content; {
	case len(content) == 0 && len(body) > 0:
		t.tb.Errorf("openapitest: %s: response %d has a body (%s), the document says none", what, resp.StatusCode, ct)
	case len(content) > 0 && stream && content.Get(ct) == nil:
		t.tb.Errorf("openapitest: %s: response %d is %q, the document says %v", what, resp.StatusCode, ct, mediaTypes(content))
	case len(content) > 0 && !stream && ct == "":
		t.tb.Errorf("openapitest: %s: response %d has no Content-Type, the document says %v", what, resp.StatusCode, mediaTypes(content))
	}
}

// checkUnlisted validates the answer to a request the document does not
// list: its status must be one of want, and a problem status must match
// the document's component response for it.
func (t *transport) checkUnlisted(what string, resp *http.Response, want ...int) {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		t.tb.Errorf("openapitest: %s: read response body: %v", what, err)
		return
	}
	ok := false
	for _, s := range want {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		t.tb.Errorf("openapitest: %s is not in the document, so the answer must be one of %v, not %d: %s", what, want, resp.StatusCode, b)
		return
	}
	name := map[int]string{
		http.StatusUnauthorized:     "Unauthorized",
		http.StatusForbidden:        "Forbidden",
		http.StatusNotFound:         "NotFound",
		http.StatusMethodNotAllowed: "MethodNotAllowed",
	}[resp.StatusCode]
	if name == "" {
		if len(b) > 0 {
			t.tb.Errorf("openapitest: %s: answer %d has a body: %s", what, resp.StatusCode, b)
		}
		return
	}
	// Validate against the component response as if an operation listed it.
	responses := openapi3.NewResponses()
	responses.Set(fmt.Sprint(resp.StatusCode), loaded.Components.Responses[name])
	route := &routers.Route{Spec: loaded, Operation: &openapi3.Operation{Responses: responses}}
	preq, _ := http.NewRequest(http.MethodGet, "/", nil)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: preq, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	out.SetBodyBytes(b)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.tb.Errorf("openapitest: %s: answer %d does not match #/components/responses/%s:\n%v", what, resp.StatusCode, name, err)
	}
}

func mediaTypes(c openapi3.Content) []string {
	var out []string
	for k := range c {
		out = append(out, k)
	}
	return out
}

// CheckSchema fails tb (Errorf) unless data, a JSON value, matches the
// document's component schema name (e.g. "Event").
func CheckSchema(tb testing.TB, name string, data []byte) {
	tb.Helper()
	doc := Document(tb)
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		tb.Fatalf("openapitest: no schema %q in the document", name)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		tb.Errorf("openapitest: %s: not JSON: %v: %s", name, err, data)
		return
	}
	if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse()); err != nil {
		tb.Errorf("openapitest: value does not match schema %s:\n%v\nvalue: %.2000s", name, err, data)
	}
}
