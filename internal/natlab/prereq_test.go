package natlab

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestMissing(t *testing.T) {
	found := func(string) (string, error) { return "/usr/sbin/x", nil }
	noNft := func(name string) (string, error) {
		if name == "nft" {
			return "", errors.New("not found")
		}
		return "/usr/sbin/" + name, nil
	}
	tests := []struct {
		name     string
		goos     string
		euid     int
		lookPath func(string) (string, error)
		want     string // substring of the reason; "" when nothing is missing
	}{
		{"ready", "linux", 0, found, ""},
		{"not linux", "darwin", 0, found, "needs Linux"},
		{"not root", "linux", 1000, found, "needs root"},
		{"no nft", "linux", 0, noNft, "needs nft in PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := missing(tt.goos, tt.euid, tt.lookPath, "ip", "nft")
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("missing() = %q, want %q", got, tt.want)
			}
		})
	}
}

// recordTB records Skipf and Fatalf instead of ending the test.
type recordTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordTB) Helper()                      {}
func (r *recordTB) Skipf(f string, args ...any)  { r.skipped = fmt.Sprintf(f, args...) }
func (r *recordTB) Fatalf(f string, args ...any) { r.fatal = fmt.Sprintf(f, args...) }

func TestUnavailable(t *testing.T) {
	tests := []struct {
		ci       string
		wantSkip bool
	}{
		{"", true},
		{"false", true},
		{"true", false},
	}
	for _, tt := range tests {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recordTB{TB: t}
			unavailable(r, "no tools")
			if got := r.skipped != ""; got != tt.wantSkip {
				t.Errorf("skipped = %v (%q), want %v", got, r.skipped, tt.wantSkip)
			}
			if got := r.fatal != ""; got == tt.wantSkip {
				t.Errorf("fatal = %v (%q), want %v", got, r.fatal, !tt.wantSkip)
			}
			if msg := r.skipped + r.fatal; !strings.Contains(msg, "no tools") {
				t.Errorf("message %q does not give the reason", msg)
			}
		})
	}
}
