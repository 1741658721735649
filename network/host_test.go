package network

import (
	"strings"
	"testing"
)

// TestHostLabel: a machine's host name becomes a DNS label, or nothing.
func TestHostLabel(t *testing.T) {
	for in, want := range map[string]string{
		"laptop":                 "laptop",
		"Laptop.example.com":     "laptop",
		"my_box":                 "my-box",
		"-x-":                    "x",
		"":                       "",
		"...":                    "",
		"ÄBC":                    "bc",
		strings.Repeat("b", 100): strings.Repeat("b", 63),
	} {
		if got := HostLabel(in); got != want || (got != "" && !ValidHostName(got)) {
			t.Errorf("HostLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "-a", "a-", "A", "a.b", "a_b", strings.Repeat("a", 64)} {
		if ValidHostName(bad) {
			t.Errorf("ValidHostName(%q) = true", bad)
		}
	}
}
