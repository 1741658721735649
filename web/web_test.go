package web_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/reachd/reachd/web"
)

// site mounts the handler as the API server does: the page at "/" and the
// files at "/static/".
func site() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", web.Handler())
	mux.Handle("GET /static/", http.StripPrefix("/static", web.Handler()))
	return mux
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}

func TestHandler(t *testing.T) {
	h := site()
	tests := []struct {
		name, path string
		status     int
		ctype      string // wanted Content-Type prefix
	}{
		{"page", "/", 200, "text/html"},
		{"style", "/static/style.css", 200, "text/css"},
		{"module", "/static/js/app.js", 200, "text/javascript"},
		{"missing file", "/static/nope.js", 404, ""},
		{"no directory listing", "/static/js/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, h, tt.path)
			if rec.Code != tt.status {
				t.Fatalf("GET %s: status %d, want %d", tt.path, rec.Code, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, tt.ctype)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
		})
	}
}

var (
	htmlRef   = regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	jsImport  = regexp.MustCompile(`(?m)^import .* from "([^"]+)";$`)
	unsafeDOM = regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function`)
	external  = regexp.MustCompile(`(?i)https?://|//[a-z0-9.-]+\.[a-z]{2,}/`)
)

// TestReferencesResolve checks that every file the page and its modules
// name is served, so a renamed file cannot break the page silently.
func TestReferencesResolve(t *testing.T) {
	h := site()
	page := get(t, h, "/").Body.String()
	var refs []string
	for _, m := range htmlRef.FindAllStringSubmatch(page, -1) {
		if ref := m[1]; !strings.HasPrefix(ref, "data:") && !strings.HasPrefix(ref, "#") {
			refs = append(refs, ref)
		}
	}
	if len(refs) < 2 {
		t.Fatalf("the page references %v: want at least the stylesheet and the script", refs)
	}
	seen := map[string]bool{}
	for len(refs) > 0 {
		ref := refs[0]
		refs = refs[1:]
		if seen[ref] {
			continue
		}
		seen[ref] = true
		rec := get(t, h, ref)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: status %d", ref, rec.Code)
			continue
		}
		if strings.HasSuffix(ref, ".js") {
			dir := ref[:strings.LastIndex(ref, "/")+1]
			for _, m := range jsImport.FindAllStringSubmatch(rec.Body.String(), -1) {
				if !strings.HasPrefix(m[1], "./") {
					t.Errorf("%s imports %q: want a relative module of the dashboard", ref, m[1])
					continue
				}
				refs = append(refs, dir+strings.TrimPrefix(m[1], "./"))
			}
		}
	}
	if !seen["/static/js/api.js"] {
		t.Errorf("modules reached %v: want the whole import graph", seen)
	}
}

// TestFilesAreSafe checks the dashboard's own rules: data is inserted as
// text, never parsed as HTML, and nothing is fetched from other sites.
func TestFilesAreSafe(t *testing.T) {
	err := fs.WalkDir(os.DirFS("static"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(os.DirFS("static"), path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(path, ".js") && unsafeDOM.MatchString(line) {
				t.Errorf("%s:%d parses HTML or code: %s", path, i+1, strings.TrimSpace(line))
			}
			if external.MatchString(line) {
				t.Errorf("%s:%d names another site: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
