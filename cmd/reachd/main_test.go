package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/server"
)

func TestBadInputExitsTwo(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in stderr
	}{
		{"no command", nil, nil, "usage:"},
		{"unknown command", []string{"fly"}, nil, `unknown command "fly"`},
		{"unknown flag", []string{"run", "--bogus"}, nil, "flag provided but not defined: -bogus"},
		{"port out of range", []string{"run", "--port", "70000"}, nil, "--port 70000"},
		{"port not a number", []string{"run", "--port", "x"}, nil, `invalid value "x" for flag -port`},
		{"bad broker scheme", []string{"run", "--mqtt", "http://h:1"}, nil, `scheme "http"`},
		{"bad cluster member", []string{"run", "--mqtt", "mqtt://a:1|http://b:1"}, nil, `cluster member "http://b:1"`},
		{"broker without host", []string{"run", "--mqtt", "mqtt://"}, nil, "missing host"},
		{"bad stun", []string{"run", "--stun", "nohostport"}, nil, `"nohostport"`},
		{"stun bad port", []string{"run", "--stun", "h:99999"}, nil, `bad port "99999"`},
		{"turn without password", []string{"run", "--turn", "turn://u@h:3478"}, nil, "missing password"},
		{"turn bad scheme", []string{"run", "--turn", "stun://u:p@h:3478"}, nil, `scheme "stun"`},
		{"api not loopback without token", []string{"run", "--api", "0.0.0.0:12333"}, nil, "--api-token"},
		{"api bad", []string{"run", "--api", "nope"}, nil, `--api "nope"`},
		{"bad cors origin", []string{"run", "--api-cors", "app.example.com"}, nil, "want an origin"},
		{"bad log level", []string{"run", "--log-level", "loud"}, nil, "--log-level"},
		{"api max conns zero", []string{"run", "--api-max-conns", "0"}, nil, "--api-max-conns 0"},
		{"api idle timeout not a duration", []string{"run", "--api-idle-timeout", "60"}, nil, `invalid value "60" for flag -api-idle-timeout`},
		{"api idle timeout zero", []string{"run", "--api-idle-timeout", "0s"}, nil, "--api-idle-timeout 0s"},
		{"api header timeout negative", []string{"run", "--api-header-timeout", "-1s"}, nil, "--api-header-timeout -1s"},
		{"network grace zero", []string{"run", "--network-grace", "0s"}, nil, "--network-grace 0s"},
		{"network max members zero", []string{"run", "--network-max-members", "0"}, nil, "--network-max-members 0"},
		{"negative address watch", []string{"run", "--address-watch", "-1s"}, nil, "--address-watch -1s"},
		{"short portmap lease", []string{"run", "--portmap-lease", "1s"}, nil, "--portmap-lease 1s"},
		{"env api max conns", []string{"run"}, map[string]string{"REACHD_API_MAX_CONNS": "many"}, "REACHD_API_MAX_CONNS"},
		{"extra argument", []string{"run", "extra"}, nil, `unexpected argument "extra"`},
		{"bad env", []string{"run"}, map[string]string{"REACHD_PORT": "abc"}, "REACHD_PORT"},
		{"env api not loopback", []string{"run"}, map[string]string{"REACHD_API": "10.0.0.1:1"}, "--api-token"},
		{"rendezvous bad turn user", []string{"rendezvous", "--turn-user", "nopass"}, nil, "want user:pass"},
		{"rendezvous three stun", []string{"rendezvous", "--stun-listen", ":1,:2,:3"}, nil, "at most two addresses"},
		{"rendezvous no role", []string{"rendezvous", "--mqtt-listen", "", "--stun-listen", "", "--turn-listen", ""}, nil, "no role left"},
		{"rendezvous websocket without broker", []string{"rendezvous", "--mqtt-listen", "", "--mqtt-ws-listen", "127.0.0.1:0"}, nil, "the broker is off"},
		{"rendezvous bad public ip", []string{"rendezvous", "--public-ip", "x.y"}, nil, "not an IP address"},
		{"rendezvous bad dialback-from", []string{"rendezvous", "--dialback-from", "x.y"}, nil, "not an IP address"},
		{"rendezvous zero max clients", []string{"rendezvous", "--mqtt-max-clients", "0"}, nil, "--mqtt-max-clients 0"},
		{"rendezvous short session expiry", []string{"rendezvous", "--mqtt-session-expiry", "10ms"}, nil, "--mqtt-session-expiry"},
		{"rendezvous inflight beyond mqtt", []string{"rendezvous", "--mqtt-max-inflight", "70000", "--mqtt-listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--stun-listen", "127.0.0.1:0"}, nil, "mqtt max inflight 70000"},
		{"rendezvous bad max packet env", []string{"rendezvous"}, map[string]string{"REACHD_MQTT_MAX_PACKET": "big"}, "REACHD_MQTT_MAX_PACKET"},
		{"status extra argument", []string{"status", "x"}, nil, `unexpected argument "x"`},
		{"status bad api", []string{"status", "--api", "http://h:1/path"}, nil, "want host:port or http://host:port"},
		{"status bad env api", []string{"status"}, map[string]string{"REACHD_API": "nope"}, `--api "nope"`},
		{"connect bad timeout", []string{"connect", "--timeout", "soon", "A"}, nil, `invalid value "soon" for flag -timeout`},
		{"nc bad json env", []string{"status"}, map[string]string{"REACHD_JSON": "maybe"}, "REACHD_JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit code %d, want 2; stderr: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.want)
			}
		})
	}
}

func TestFlagBeatsEnv(t *testing.T) {
	t.Setenv("REACHD_PORT", "1234")
	t.Setenv("REACHD_MQTT", "mqtt://a:1,mqtt://b:2")
	var f nodeFlags
	fs := newFlagSetForTest(&f)
	if _, err := parseFlags(fs, []string{"--port", "4321"}, &bytes.Buffer{}, 0); err != nil {
		t.Fatal(err)
	}
	if f.port != 4321 {
		t.Errorf("port = %d, want the flag's 4321", f.port)
	}
	if got := f.mqtt.String(); got != "mqtt://a:1,mqtt://b:2" {
		t.Errorf("mqtt = %q, want the environment's list", got)
	}
}

// TestSessionFlagsRefuseBadValues: the session flags refuse what the node
// could not run with, at start-up and as bad input, rather than at the
// first connect.
func TestSessionFlagsRefuseBadValues(t *testing.T) {
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"--grace", "0s"}, "--grace 0s: want a positive duration"},
		{[]string{"--grace", "-1s"}, "--grace -1s"},
		{[]string{"--stream-window", "128KiB"}, "--stream-window 131072: want 256KiB to 1GiB"},
		{[]string{"--stream-window", "2GiB"}, "--stream-window 2147483648: want 256KiB to 1GiB"},
		{[]string{"--link-buffer", "1KiB"}, "--link-buffer 1024: want at least 64KiB"},
		{[]string{"--network-grace", "0s"}, "--network-grace 0s"},
		{[]string{"--network-max-members", "0"}, "--network-max-members 0: want at least 1"},
		{[]string{"--network-range", "10.64.0.0"}, `--network-range "10.64.0.0"`},
		{[]string{"--network-range", "fd00::/48"}, `--network-range "fd00::/48"`},
		{[]string{"--network-range", "10.0.0.0/31"}, `--network-range "10.0.0.0/31"`},
		{[]string{"--recv-budget", "512KiB"}, "--recv-budget 524288: want at least 1MiB"},
		{[]string{"--api-token-file", "/nonexistent/token"}, "--api-token-file: open /nonexistent/token"},
		{[]string{"--api-token", "x", "--api-token-file", "/dev/null"}, "--api-token-file: the token is given already"},
		{[]string{"--max-links", "0"}, "--max-links 0: want at least 1"},
		{[]string{"--link-idle", "0s"}, "--link-idle 0s: want a positive duration"},
	} {
		var f nodeFlags
		if _, err := parseFlags(newFlagSetForTest(&f), tt.args, &bytes.Buffer{}, 0); err != nil {
			t.Fatal(err)
		}
		_, _, err := f.config(nil)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%v: %v, want a usage error %q", tt.args, err, tt.err)
		}
	}
	if _, err := parseFlags(newFlagSetForTest(&nodeFlags{}), []string{"--link-buffer", "lots"}, &bytes.Buffer{}, 0); err == nil {
		t.Error("--link-buffer lots: parsed")
	}
}

// TestAPILimitFlags: the API's connection limits reach the server's
// config, from flags or environment, with the server's defaults.
func TestAPILimitFlags(t *testing.T) {
	config := func(args ...string) server.Config {
		t.Helper()
		var f nodeFlags
		if _, err := parseFlags(newFlagSetForTest(&f), args, &bytes.Buffer{}, 0); err != nil {
			t.Fatal(err)
		}
		_, sc, err := f.config(nil)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	if sc := config(); sc.MaxConns != server.DefaultMaxConns || sc.IdleTimeout != server.DefaultIdleTimeout || sc.HeaderTimeout != server.DefaultHeaderTimeout {
		t.Errorf("defaults: %d %s %s", sc.MaxConns, sc.IdleTimeout, sc.HeaderTimeout)
	}
	t.Setenv("REACHD_API_IDLE_TIMEOUT", "5s")
	sc := config("--api-max-conns", "7", "--api-header-timeout", "2s")
	if sc.MaxConns != 7 || sc.IdleTimeout != 5*time.Second || sc.HeaderTimeout != 2*time.Second {
		t.Errorf("set: %d %s %s, want 7 5s 2s", sc.MaxConns, sc.IdleTimeout, sc.HeaderTimeout)
	}
}

func TestHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"run", "-h"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if !strings.Contains(stderr.String(), "-mqtt") {
		t.Errorf("help does not list --mqtt: %s", stderr.String())
	}
}

func newFlagSetForTest(f *nodeFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	f.register(fs)
	return fs
}

func TestParseFlagsPositional(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		max     int
		want    []string
		timeout string
		err     string
	}{
		{"flags after", []string{"ADDR", "--timeout", "5s"}, 1, []string{"ADDR"}, "5s", ""},
		{"flags around", []string{"--timeout", "5s", "A", "--json", "B"}, 2, []string{"A", "B"}, "5s", ""},
		{"double dash ends flags", []string{"--", "--timeout", "A"}, 2, []string{"--timeout", "A"}, "1s", ""},
		{"too many", []string{"A", "B"}, 1, nil, "", `unexpected argument "B"`},
		{"none allowed", []string{"A"}, 0, nil, "", `unexpected argument "A"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			timeout := fs.Duration("timeout", time.Second, "")
			fs.Bool("json", false, "")
			got, err := parseFlags(fs, tt.args, &bytes.Buffer{}, tt.max)
			if tt.err != "" {
				var ue usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want a usage error %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) || timeout.String() != tt.timeout {
				t.Errorf("got %q, --timeout %v; want %q, %s", got, timeout, tt.want, tt.timeout)
			}
		})
	}
}

func TestEnvAppliesOnceWithPositionalArgs(t *testing.T) {
	// An environment default must not come back between positional
	// arguments and override a flag.
	t.Setenv("REACHD_TIMEOUT", "9s")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	timeout := fs.Duration("timeout", time.Second, "")
	if _, err := parseFlags(fs, []string{"--timeout", "5s", "A", "B"}, &bytes.Buffer{}, 2); err != nil {
		t.Fatal(err)
	}
	if *timeout != 5*time.Second {
		t.Errorf("--timeout = %v, want the flag's 5s", *timeout)
	}
}

// TestAPITokenKeptOutOfPs: the API token comes from a file or the
// environment, which other local users cannot read in ps; only the
// command-line flag is warned about.
func TestAPITokenKeptOutOfPs(t *testing.T) {
	file := t.TempDir() + "/token"
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var f nodeFlags
	fs := newFlagSetForTest(&f)
	if _, err := parseFlags(fs, []string{"--api-token-file", file, "--recv-budget", "64MiB"}, &bytes.Buffer{}, 0); err != nil {
		t.Fatal(err)
	}
	nc, sc, err := f.config(nil)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Token != "s3cret" || onCommandLine(fs, "api-token") {
		t.Errorf("token from a file: %q (on the command line: %v), want s3cret, not on it", sc.Token, onCommandLine(fs, "api-token"))
	}
	if nc.Limits.RecvBudget != 64<<20 {
		t.Errorf("--recv-budget 64MiB: %d", nc.Limits.RecvBudget)
	}

	t.Setenv("REACHD_API_TOKEN", "fromenv")
	f = nodeFlags{}
	fs = newFlagSetForTest(&f)
	if _, err := parseFlags(fs, nil, &bytes.Buffer{}, 0); err != nil {
		t.Fatal(err)
	}
	if _, sc, err := f.config(nil); err != nil || sc.Token != "fromenv" || onCommandLine(fs, "api-token") {
		t.Errorf("token from REACHD_API_TOKEN: %q, %v (on the command line: %v)", sc.Token, err, onCommandLine(fs, "api-token"))
	}
	f = nodeFlags{}
	fs = newFlagSetForTest(&f)
	if _, err := parseFlags(fs, []string{"--api-token", "inps"}, &bytes.Buffer{}, 0); err != nil {
		t.Fatal(err)
	}
	if !onCommandLine(fs, "api-token") {
		t.Error("--api-token on the command line: not noticed, so not warned about")
	}
}
