package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var (
	dashboardRE  = regexp.MustCompile(`(?m)^  (alice|bob) +dashboard (http://127\.0\.0\.1:\d+/)$`)
	demoConnRE   = regexp.MustCompile(`(?m)^alice connected to bob via (direct|reverse|punch|relay) in \d+ms: connection (c[a-z0-9]+)$`)
	demoAttachRE = regexp.MustCompile(`(?m)^  reachd nc --api (127\.0\.0\.1:\d+) --id (c[a-z0-9]+)$`)
)

// TestDemo runs the demo until it is up, checks that both dashboards
// answer and that alice's API lists the connection it printed, then stops
// it as Ctrl-C would.
func TestDemo(t *testing.T) {
	p := startReachd(t, nil, "demo", "--data-dir", t.TempDir())
	out := p.stdout.waitFor(t, "press Ctrl-C to stop\n")

	dashboards := dashboardRE.FindAllStringSubmatch(out, -1)
	if len(dashboards) != 2 {
		t.Fatalf("want two dashboard URLs, output:\n%s", out)
	}
	for _, d := range dashboards {
		resp, err := http.Get(d[2])
		if err != nil {
			t.Fatalf("%s's dashboard: %v", d[1], err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s, want 200 text/html", d[2], resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	conn := demoConnRE.FindStringSubmatch(out)
	if conn == nil {
		t.Fatalf("no connection in the output:\n%s", out)
	}
	attach := demoAttachRE.FindAllStringSubmatch(out, -1)
	if len(attach) != 2 || attach[0][2] != conn[2] || "http://"+attach[0][1]+"/" != dashboards[0][2] || "http://"+attach[1][1]+"/" != dashboards[1][2] {
		t.Fatalf("nc hints %q do not match the dashboards and connection:\n%s", attach, out)
	}
	for i, side := range []string{"outbound", "inbound"} {
		resp, err := http.Get("http://" + attach[i][1] + "/v1/connections/" + attach[i][2])
		if err != nil {
			t.Fatal(err)
		}
		var c struct{ Strategy, Direction, State string }
		err = json.NewDecoder(resp.Body).Decode(&c)
		resp.Body.Close()
		if err != nil || c.Direction != side || c.State != "open" || c.Strategy != conn[1] {
			t.Errorf("%s connection %s: %+v (%v), want open %s via %s", side, attach[i][2], c, err, side, conn[1])
		}
	}

	p.cancel()
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code %d after interrupt; stderr: %s", code, p.stderr)
	}
}

func TestDemoOnce(t *testing.T) {
	code, out, errOut := reachd(t, nil, "demo", "--once")
	if code != 0 {
		t.Fatalf("exit code %d; stderr: %s", code, errOut)
	}
	if n := len(dashboardRE.FindAllString(out, -1)); n != 2 || !demoConnRE.MatchString(out) {
		t.Errorf("want two dashboards and a connection, output:\n%s", out)
	}
	if strings.Contains(out, "Ctrl-C") {
		t.Errorf("--once says to press Ctrl-C:\n%s", out)
	}
}
