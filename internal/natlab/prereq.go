package natlab

import (
	"os"
	"strings"
	"testing"
)

// missing returns why natlab cannot run on this machine, or "" when it can.
// lookPath is exec.LookPath outside tests.
func missing(goos string, euid int, lookPath func(string) (string, error), tools ...string) string {
	if goos != "linux" {
		return "natlab needs Linux network namespaces (GOOS=" + goos + ")"
	}
	if euid != 0 {
		return "natlab needs root to create network namespaces"
	}
	var absent []string
	for _, t := range tools {
		if _, err := lookPath(t); err != nil {
			absent = append(absent, t)
		}
	}
	if len(absent) > 0 {
		return "natlab needs " + strings.Join(absent, ", ") + " in PATH"
	}
	return ""
}

// unavailable skips the test for reason, or fails it when CI=true: in CI a
// missing tool is a broken pipeline, not a reason to pass.
func unavailable(tb testing.TB, reason string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("natlab: %s (CI=true, so this is an error rather than a skip)", reason)
		return
	}
	tb.Skipf("natlab: %s", reason)
}
