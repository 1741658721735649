// Package web is reachd's browser dashboard: static files embedded in the
// binary, served as they are (no build step: HTML, CSS and ES modules, no
// framework, nothing fetched from other sites). The dashboard talks to the
// REST API on its own origin and follows /v1/events; it holds no
// server-side logic.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// files is the static directory as the root of the site.
var files = func() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // "static" is embedded above; this cannot fail
	}
	return sub
}()

// contentSecurityPolicy is sent with every file: scripts, styles and API
// calls from this origin only, and no framing (the dashboard has buttons
// that act on the node).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the dashboard's files: "/" is the page, other paths are
// files under it (the server mounts it at "/" and, prefix stripped, at
// "/static/"). Directories other than the root are not listed.
func Handler() http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// Revalidate: the files change when reachd is upgraded.
		h.Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}
