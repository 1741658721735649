package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeSection returns the shell code blocks of README.md's section with
// the given heading.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	text = text[i+len(heading)+2:]
	if j := strings.Index(text, "\n## "); j >= 0 {
		text = text[:j]
	}
	var code strings.Builder
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(text, -1) {
		code.WriteString(m[1])
	}
	if code.Len() == 0 {
		t.Fatalf("README.md's %q section has no sh code block", heading)
	}
	return code.String()
}

// TestReadmeCurlExamples runs the README's API examples, as they are, with
// bash and curl against a live node (the test only puts the node's real API
// address where the README says 127.0.0.1:12333, and gives PEER). Every
// curl must succeed: an HTTP error fails the test.
func TestReadmeCurlExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI: %v", tool, err)
			}
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	if os.Geteuid() != 0 {
		// The named network example creates a TAP device.
		if os.Getenv("CI") == "true" {
			t.Fatal("the README's network example needs root (a TAP device)")
		}
		t.Skip("the README's network example needs root (a TAP device)")
	}
	script := readmeSection(t, "## Using the API")
	// Every curl command of the README is in that section, so this test
	// runs them all.
	readme, _ := os.ReadFile("../../README.md")
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "curl ") && !strings.Contains(script, line) {
			t.Errorf("README.md line %q is a curl example outside the tested section", line)
		}
	}
	nodes := startLoopback(t, 2)
	var a, b struct {
		NodeID  string `json:"node_id"`
		Address string `json:"address"`
	}
	nodes[0].ready(t, &a)
	nodes[1].ready(t, &b)

	script = strings.ReplaceAll(script, "http://127.0.0.1:12333", nodes[0].api)
	const prelude = `set -euo pipefail
curl() {
  local rc=0
  case "$*" in
    # The event stream runs until --max-time ends it (exit 28).
    */v1/events*) command curl --show-error "$@" || rc=$?; [ "$rc" = 28 ] && return 0; return "$rc" ;;
    *) command curl --show-error --fail-with-body "$@" ;;
  esac
}
set -x
`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", prelude+script)
	cmd.Env = append(cleanEnv(), "PEER="+b.Address, "OTHER="+nodes[1].api)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("README examples failed: %v\nstdout:\n%s\nstderr (trace):\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	out := stdout.String()
	for _, want := range []string{
		`"node_id": "` + a.NodeID + `"`, // GET /v1/node
		`"rtt_ms"`,                      // echo
		`"peer_id": "` + b.NodeID + `"`, // the connection
		`{"sent":11}`,                   // send
		"retry: 2000",                   // the event stream opened
		"reachd_connect_attempts_total{",
		"/v1/connections/{id}/stream", // openapi paths
		`"closed"`,                    // DELETE
		`"left": "lab"`,               // and left
		`"name": "laptop"`,            // the paired peer, saved by the joiner
		`"name": "desk"`,              // and by the offerer
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The network, listed: its derived subnet is in 10.64.0.0/10, and
	// alone it is joining or (after 5 s) waiting.
	if re := regexp.MustCompile(`lab: 10\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.[0-9]+\.[0-9]+/24 on rn-lab, (joining|waiting), 0 member\(s\)`); !re.MatchString(out) {
		t.Errorf("output lacks the network listed (%s):\n%s", re, out)
	}
}
