package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reachd/reachd/state"
)

type policy struct {
	Accept string   `json:"accept"`
	Allow  []string `json:"allow"`
}

func TestPutGetAcrossOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var p policy
	if ok, err := s.Get("policy", &p); ok || err != nil {
		t.Fatalf("a new store has a policy: %v %v", ok, err)
	}
	if err := s.Put("policy", policy{Accept: "allowlist", Allow: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("networks", []string{"lab"}); err != nil {
		t.Fatal(err)
	}
	again, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := again.Get("policy", &p); !ok || err != nil || p.Accept != "allowlist" || len(p.Allow) != 1 {
		t.Fatalf("after reopening: %+v %v %v", p, ok, err)
	}
	var nets []string
	if ok, _ := again.Get("networks", &nets); !ok || len(nets) != 1 {
		t.Fatalf("networks after reopening: %v", nets)
	}
	if fi, err := os.Stat(filepath.Join(dir, state.FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v", err, fi.Mode())
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestCorruptFileIsAnError(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"not json", "{not json", "invalid character"},
		{"cut short", `{"version": 1, "sections": {"policy": {"accept": "any"`, "unexpected end"},
		{"other version", `{"version": 99, "sections": {}}`, "version 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, state.FileName)
			os.WriteFile(path, []byte(tc.content), 0o600)
			_, err := state.Open(dir)
			if !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want ErrCorrupt naming %s and %q", err, path, tc.want)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Fatal("the corrupt file was changed")
			}
		})
	}
	t.Run("section of the wrong shape", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, state.FileName), []byte(`{"version": 1, "sections": {"policy": [1, 2]}}`), 0o600)
		s, err := state.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		var p policy
		if _, err := s.Get("policy", &p); !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), `"policy"`) {
			t.Fatalf("Get: %v, want ErrCorrupt naming the section", err)
		}
	})
}

// TestFailedPutKeepsTheOld: a Put that cannot write leaves the file and
// the store as they were.
func TestFailedPutKeepsTheOld(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.Mkdir(dir, 0o700)
	s, _ := state.Open(dir)
	if err := s.Put("policy", policy{Accept: "any"}); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir) // the next write has nowhere to go
	if err := s.Put("policy", policy{Accept: "allowlist"}); err == nil {
		t.Fatal("Put into a vanished directory succeeded")
	}
	var p policy
	s.Get("policy", &p)
	if p.Accept != "any" {
		t.Fatalf("after a failed Put the store says %q", p.Accept)
	}
}
