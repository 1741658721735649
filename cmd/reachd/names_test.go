package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// reachd names register, list, resolve (from the other node) and rm.
func TestNamesCommand(t *testing.T) {
	p := startPair(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reachd := func(api string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{args[0], "--api", api}, args[1:]...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, e := reachd(p.apiA, "names"); code != 0 || !strings.Contains(out, "no names") {
		t.Errorf("names (empty): exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd(p.apiA, "names", "register", "alpha"); code != 0 || !strings.HasPrefix(out, "registered alpha on 1 of 1 name services") {
		t.Errorf("names register: exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd(p.apiA, "names"); code != 0 || !strings.Contains(out, "alpha") || !strings.Contains(out, "1/1") {
		t.Errorf("names: exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd(p.apiB, "names", "alpha"); code != 0 || !strings.Contains(out, "alpha is "+p.a.ID()) {
		t.Errorf("names alpha on b: exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd(p.apiB, "names", "register", "alpha"); code != 1 || !strings.Contains(e, "another node") {
		t.Errorf("b registers alpha: exit %d %q %q, want 1 saying it is another node's", code, out, e)
	}
	if code, out, e := reachd(p.apiA, "names", "rm", "alpha"); code != 0 || out != "dropped alpha\n" {
		t.Errorf("names rm: exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd(p.apiB, "names", "alpha"); code != 1 || !strings.Contains(e, "no record") {
		t.Errorf("names alpha after rm: exit %d %q %q", code, out, e)
	}
}
