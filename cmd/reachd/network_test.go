package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestNetworkCommand: bad input is exit 2 saying what is wrong; with root,
// join, list (both nodes in each other's table) and leave through the API.
func TestNetworkCommand(t *testing.T) {
	p := startPair(t, "")
	reachd := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"network"}, "want a subcommand"},
		{[]string{"network", "dance"}, `unknown subcommand "dance"`},
		{[]string{"network", "join"}, "want the network's NAME"},
		{[]string{"network", "join", "lab", "--api", p.apiA}, "--secret"},
		{[]string{"network", "join", "lab", "--secret", "short", "--api", p.apiA}, "secret"},
		{[]string{"network", "join", "lab", "--secret", "correct horse battery staple", "--ip", "10.99.0.1", "--api", p.apiA}, "ip"},
	} {
		code, _, stderr := reachd(tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("reachd %v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
	if code, stdout, _ := reachd("network", "list", "--api", p.apiA); code != 0 || !strings.Contains(stdout, "no networks joined") {
		t.Errorf("list: %d %q", code, stdout)
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("TAP devices need root")
		}
		t.Skip("TAP devices need root")
	}
	t.Setenv("REACHD_SECRET", "correct horse battery staple")
	code, stdout, stderr := reachd("network", "join", "cmdtest", "--ip", "10.96.0.1/24", "--api", p.apiA)
	// A, alone, says so after a few seconds; B finds A.
	if code != 0 || !strings.Contains(stdout, "joining cmdtest as 10.96.0.1/24…\njoined cmdtest as 10.96.0.1/24") ||
		!strings.Contains(stdout, "\nwaiting: no other member has answered yet; a wrong secret looks the same\n") {
		t.Fatalf("join A: %d %q %q", code, stdout, stderr)
	}
	if code, stdout, stderr := reachd("network", "join", "cmdtest", "--api", p.apiB); code != 0 || !strings.Contains(stdout, "joined cmdtest as 10.96.0.") ||
		!strings.Contains(stdout, "\njoined: 1 member(s) answered\n") {
		t.Fatalf("join B: %d %q %q", code, stdout, stderr)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, stdout, _ := reachd("network", "list", "--api", p.apiA)
		if strings.Contains(stdout, p.b.ID()[:12]) && strings.Contains(stdout, " up ") && strings.Contains(stdout, "cmdtest  joined  10.96.0.1/24") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list never showed B up:\n%s", stdout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, _, stderr := reachd("network", "join", "cmdtest", "--api", p.apiA); code != 1 || !strings.Contains(stderr, "joined already") {
		t.Errorf("second join: %d %q", code, stderr)
	}
	for _, api := range []string{p.apiB, p.apiA} {
		if code, stdout, stderr := reachd("network", "leave", "cmdtest", "--api", api); code != 0 || stdout != "left cmdtest\n" {
			t.Errorf("leave: %d %q %q", code, stdout, stderr)
		}
	}
	if code, _, stderr := reachd("network", "leave", "cmdtest", "--api", p.apiA); code == 0 || !strings.Contains(stderr, "not joined") {
		t.Errorf("leave again: %d %q", code, stderr)
	}
}
