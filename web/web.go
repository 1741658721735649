// Package web is reachd's browser dashboard: static files embedded in the
// binary, served as they are (no build step). The dashboard talks to the
// REST API and follows /v1/events; it holds no server-side logic.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the dashboard's files.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	return http.FileServerFS(sub)
}
