package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// reachd peers add, list (text and --json) and rm, and connect and ping
// by the name saved.
func TestPeersCommand(t *testing.T) {
	p := startPair(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reachd := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{args[0], "--api", p.apiA}, args[1:]...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, e := reachd("peers"); code != 0 || !strings.Contains(out, "no peers") {
		t.Errorf("peers (empty): exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd("peers", "add", "bee", p.b.Address()); code != 0 || out != "saved "+p.b.ID()+" as bee\n" {
		t.Fatalf("peers add by address: exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd("peers", "add", "bee2", p.b.ID()); code != 0 || !strings.Contains(out, "as bee2") {
		t.Fatalf("peers add by node ID: exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd("peers", "add", "Bad_Name", p.b.ID()); code != 2 || !strings.Contains(e, "DNS label") {
		t.Errorf("peers add with a bad name: exit %d %q %q, want 2 saying DNS label", code, out, e)
	}
	code, out, e := reachd("peers")
	if code != 0 || !strings.Contains(out, "bee ") || !strings.Contains(out, p.b.ID()) || !strings.Contains(out, "known") {
		t.Errorf("peers (list): exit %d %q %q", code, out, e)
	}
	code, out, e = reachd("peers", "--json")
	var list struct {
		Peers []struct {
			Name    string `json:"name"`
			NodeID  string `json:"node_id"`
			Address string `json:"address"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Peers) != 2 || list.Peers[0].Address != p.b.Address() {
		t.Errorf("peers --json: exit %d %q %q (%v)", code, out, e, err)
	}
	if code, out, e := reachd("connect", "bee"); code != 0 || !strings.Contains(out+e, p.b.ID()[:12]) {
		t.Errorf("connect bee: exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd("ping", "bee"); code != 0 {
		t.Errorf("ping bee: exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd("peers", "rm", "bee2"); code != 0 || out != "forgot bee2\n" {
		t.Errorf("peers rm: exit %d %q %q", code, out, e)
	}
	if code, out, e := reachd("peers", "rm", "bee2"); code != 1 || !strings.Contains(e, "no peer of that name") {
		t.Errorf("peers rm again: exit %d %q %q, want 1 saying no peer of that name", code, out, e)
	}
	if code, out, e := reachd("connect", "nobody"); code == 0 || !strings.Contains(e, "no peer of that name") {
		t.Errorf("connect to an unknown name: exit %d %q %q", code, out, e)
	}
}
