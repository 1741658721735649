package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exampleKeyRE is a commented-out key of the example config file.
var exampleKeyRE = regexp.MustCompile(`^# ([a-z][a-z0-9-]*) = `)

// TestExampleConfigFile: dist/reachd.toml documents every flag of reachd
// run, and with every key uncommented it is a valid config.
func TestExampleConfigFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "dist", "reachd.toml"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	var uncommented []string
	for _, line := range strings.Split(string(b), "\n") {
		m := exampleKeyRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		documented[m[1]] = true
		if m[1] == "api-token-file" {
			continue // names a file this machine lacks, and excludes api-token
		}
		uncommented = append(uncommented, strings.TrimPrefix(line, "# "))
	}
	fs := flag.NewFlagSet("reachd run", flag.ContinueOnError)
	var f nodeFlags
	f.register(fs)
	registerDaemonFlags(fs, true)
	fs.VisitAll(func(fl *flag.Flag) {
		if fl.Name != configFlag && !documented[fl.Name] {
			t.Errorf("dist/reachd.toml does not document --%s", fl.Name)
		}
	})
	path := filepath.Join(t.TempDir(), "reachd.toml")
	if err := os.WriteFile(path, []byte(strings.Join(uncommented, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parseFlags(fs, []string{"--config", path}, &bytes.Buffer{}, 0); err != nil {
		t.Fatalf("the example's values: %v", err)
	}
	if _, _, err := f.config(nil); err != nil {
		t.Errorf("the example's values as a node config: %v", err)
	}
}
