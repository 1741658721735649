package natlab

import (
	"strings"
	"testing"
)

// TestNewRouterRefuses checks what AddRouter, AddCGNAT and a CGNAT's
// AddRouter refuse, before anything is built.
func TestNewRouterRefuses(t *testing.T) {
	cgnat := &Router{cgnat: true, self: &Host{name: "cg"}}
	home := &Router{self: &Host{name: "home"}}
	tests := []struct {
		name    string
		kind    Kind
		up      *Router
		cgnat   bool
		wantErr string
	}{
		{"unknown kind", RestrictedCone + 1, nil, false, "unknown kind"},
		{"public cgnat", Public, nil, true, "a cgnat maps like easy, hard or fullcone, not public"},
		{"forwarded cgnat", Forwarded, nil, true, "not forwarded"},
		{"behind a home router", Easy, home, false, "router home is no cgnat"},
		{"public behind a cgnat", Public, cgnat, false, "its lan would not be routed"},
		{"bad link", Easy, nil, false, "exceeds the delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg routerConfig
			if tt.name == "bad link" {
				cfg.link = &Link{Jitter: 1}
			}
			_, err := (&Lab{}).newRouter(tt.kind, cfg, tt.up, tt.cgnat)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
