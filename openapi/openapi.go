// Package openapi holds reachd's OpenAPI 3.1 document, the contract of the
// REST API, embedded in the binary, and the handler that serves it. It does
// not route or validate requests itself; tests use the document for that.
package openapi

import (
	_ "embed"
	"net/http"
)

// Document is the OpenAPI document (JSON).
//
//go:embed openapi.json
var Document []byte

// Handler serves the document.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(Document)
	})
}
