package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/state"
)

// daemon is a real reachd run process.
type daemon struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	api    string // http://host:port
}

// apiLogRE finds the API address in the "reachd running" log line, in
// either log format.
var apiLogRE = regexp.MustCompile(`"?api"?[=:]"?http://([0-9.:]+)`)

// startDaemon runs the real reachd run with args and waits for its API;
// cleanup kills it.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: reachdCmd(append([]string{"run"}, args...)...), stderr: newSyncBuffer()}
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.kill(t) })
	out := d.stderr.waitFor(t, "reachd running")
	m := apiLogRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no API address in the log:\n%s", out)
	}
	d.api = "http://" + m[1]
	return d
}

// kill ends the daemon with SIGKILL: no shutdown code runs.
func (d *daemon) kill(t *testing.T) {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.cmd.Wait()
}

// call makes an API call and decodes its JSON answer into out.
func (d *daemon) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.api+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

// TestRunKeepsStateAcrossKill: the policy and its allow list set through
// the API, and (with root, for the TAP device) a network joined, are back
// after the daemon is killed with SIGKILL and started again; the flags
// that say otherwise do not win over them.
func TestRunKeepsStateAcrossKill(t *testing.T) {
	rv := rendezvoustest.Start(t)
	cfg := nodetest.Config(t, rv)
	peer := nodetest.Start(t, rv)
	args := []string{"--data-dir", cfg.DataDir, "--api", "127.0.0.1:0", "--ntp", "off",
		"--mqtt", cfg.MQTT[0], "--stun", strings.Join(cfg.STUN, ","), "--accept", "any"}
	root := os.Geteuid() == 0
	if !root && os.Getenv("CI") == "true" {
		t.Fatal("TAP devices need root (CI=true)")
	}

	d := startDaemon(t, args...)
	if code := d.call(t, "PUT", "/v1/policy/allow/"+peer.ID(), nil, nil); code != 200 {
		t.Fatalf("allow: %d", code)
	}
	if code := d.call(t, "PUT", "/v1/policy", map[string]string{"accept": "allowlist"}, nil); code != 200 {
		t.Fatalf("policy: %d", code)
	}
	const secret = "correct horse battery staple"
	if root {
		body := map[string]string{"name": "persisttest", "secret": secret, "ip": "10.95.0.1/24"}
		if code := d.call(t, "POST", "/v1/networks", body, nil); code != 201 {
			t.Fatalf("join: %d\n%s", code, d.stderr)
		}
	}
	d.kill(t)

	d = startDaemon(t, args...)
	var p node.Policy
	if code := d.call(t, "GET", "/v1/policy", nil, &p); code != 200 {
		t.Fatalf("policy: %d", code)
	}
	if p.Accept != node.AcceptAllowlist || len(p.Allow) != 1 || p.Allow[0] != peer.ID() {
		t.Errorf("policy after kill and restart: %+v, want allowlist of %s", p, peer.ID())
	}
	if !root {
		t.Skip("policy checked; the network part needs root for its TAP device")
	}
	d.stderr.waitFor(t, "network joined again")
	var info struct{ Name, IP string }
	if code := d.call(t, "GET", "/v1/networks/persisttest", nil, &info); code != 200 || info.IP != "10.95.0.1/24" {
		t.Errorf("network after kill and restart: %d %+v, want persisttest as 10.95.0.1/24", code, info)
	}
	// Left through the API, it stays left.
	if code := d.call(t, "DELETE", "/v1/networks/persisttest", nil, nil); code >= 300 {
		t.Fatalf("leave: %d", code)
	}
	d.kill(t)
	st, err := state.Open(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	var nets []map[string]any
	if _, err := st.Get("networks", &nets); err != nil || len(nets) != 0 {
		t.Errorf("networks saved after a leave: %v %v", nets, err)
	}
}

// TestRunCorruptStateFile: a state file that does not parse stops reachd
// run with exit code 1 and a message naming the file.
func TestRunCorruptStateFile(t *testing.T) {
	rv := rendezvoustest.Start(t)
	cfg := nodetest.Config(t, rv)
	path := filepath.Join(cfg.DataDir, state.FileName)
	if err := os.WriteFile(path, []byte(`{"version": 1, "sections": {"policy": `), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := reachdCmd("run", "--data-dir", cfg.DataDir, "--api", "127.0.0.1:0", "--ntp", "off",
		"--mqtt", cfg.MQTT[0]).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("reachd run with a corrupt state file: %v, want exit code 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), path) {
		t.Errorf("output %q does not name %s", out, path)
	}
	if strings.Contains(string(out), "reachd running") {
		t.Errorf("the daemon started anyway:\n%s", out)
	}
}

// TestRunForgetsSavedNetwork: a saved network that cannot be joined again
// (its secret is too short) is forgotten by DELETE /v1/networks/NAME, and
// a second DELETE is 404.
func TestRunForgetsSavedNetwork(t *testing.T) {
	rv := rendezvoustest.Start(t)
	cfg := nodetest.Config(t, rv)
	st, err := state.Open(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put("networks", []map[string]string{{"name": "ghost", "secret": "short", "ip": "auto"}}); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--data-dir", cfg.DataDir, "--api", "127.0.0.1:0", "--ntp", "off",
		"--mqtt", cfg.MQTT[0], "--stun", strings.Join(cfg.STUN, ","))
	var info struct{ Name string }
	if code := d.call(t, "DELETE", "/v1/networks/ghost", nil, &info); code != 200 || info.Name != "ghost" {
		t.Errorf("DELETE a saved network not joined: %d %+v, want 200 ghost", code, info)
	}
	if code := d.call(t, "DELETE", "/v1/networks/ghost", nil, nil); code != 404 {
		t.Errorf("DELETE it again: %d, want 404", code)
	}
}
