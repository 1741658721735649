package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestCompletionScripts: each shell parses its script, and bash's
// completes a command, a network subcommand and a flag of run.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), []string{"completion", shell}, strings.NewReader(""), &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if !strings.Contains(stdout.String(), "api-token") || !strings.Contains(stdout.String(), "rendezvous") {
				t.Errorf("script lacks the commands or their flags:\n%s", stdout.String())
			}
			if _, err := exec.LookPath(shell); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s not installed (CI=true)", shell)
				}
				t.Skipf("%s not installed", shell)
			}
			path := filepath.Join(t.TempDir(), "reachd."+shell)
			if err := os.WriteFile(path, stdout.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(shell, "-n", path).CombinedOutput(); err != nil {
				t.Fatalf("%s -n: %v\n%s", shell, err, out)
			}
			if shell != "bash" {
				return
			}
			for _, tt := range []struct{ words, want string }{
				{"reachd vers", "version"},
				{"reachd network jo", "join"},
				{"reachd run --conf", "--config"},
				{"reachd rendezvous --turn-u", "--turn-user"},
			} {
				words := strings.Fields(tt.words)
				script := ". " + path + "; COMP_WORDS=(" + tt.words + "); COMP_CWORD=" +
					string(rune('0'+len(words)-1)) + "; _reachd; echo \"${COMPREPLY[*]}\""
				out, err := exec.Command("bash", "-c", script).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != tt.want {
					t.Errorf("completing %q: %q %v, want %q", tt.words, out, err, tt.want)
				}
			}
		})
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"completion", "tcsh"}, strings.NewReader(""), &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "tcsh") {
		t.Errorf("unknown shell: exit %d %q, want 2 naming it", code, stderr.String())
	}
}

// TestVersion: the module version and commit from the build information,
// "devel" when unknown.
func TestVersion(t *testing.T) {
	v := buildVersion(&debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"}}}, true)
	if v.Version != "v1.4.0" || v.Commit != "0123abcd" || !v.Modified {
		t.Errorf("from build info: %+v", v)
	}
	v = buildVersion(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true)
	if v.Version != "devel" || v.Commit != "devel" {
		t.Errorf("a source build: %+v, want devel", v)
	}
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"version"}, strings.NewReader(""), &stdout, &bytes.Buffer{}); code != 0 || !strings.HasPrefix(stdout.String(), "reachd ") {
		t.Errorf("reachd version: exit %d %q", code, stdout.String())
	}
}
