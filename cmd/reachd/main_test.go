package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
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
		{"broker without host", []string{"run", "--mqtt", "mqtt://"}, nil, "missing host"},
		{"bad stun", []string{"run", "--stun", "nohostport"}, nil, `"nohostport"`},
		{"stun bad port", []string{"run", "--stun", "h:99999"}, nil, `bad port "99999"`},
		{"turn without password", []string{"run", "--turn", "turn://u@h:3478"}, nil, "missing password"},
		{"turn bad scheme", []string{"run", "--turn", "stun://u:p@h:3478"}, nil, `scheme "stun"`},
		{"api not loopback without token", []string{"run", "--api", "0.0.0.0:12333"}, nil, "--api-token"},
		{"api bad", []string{"run", "--api", "nope"}, nil, `--api "nope"`},
		{"bad cors origin", []string{"run", "--api-cors", "app.example.com"}, nil, "want an origin"},
		{"bad log level", []string{"run", "--log-level", "loud"}, nil, "--log-level"},
		{"extra argument", []string{"run", "extra"}, nil, `unexpected argument "extra"`},
		{"bad env", []string{"run"}, map[string]string{"REACHD_PORT": "abc"}, "REACHD_PORT"},
		{"env api not loopback", []string{"run"}, map[string]string{"REACHD_API": "10.0.0.1:1"}, "--api-token"},
		{"rendezvous bad turn user", []string{"rendezvous", "--turn-user", "nopass"}, nil, "want user:pass"},
		{"rendezvous three stun", []string{"rendezvous", "--stun-listen", ":1,:2,:3"}, nil, "one or two addresses"},
		{"rendezvous bad public ip", []string{"rendezvous", "--public-ip", "x.y"}, nil, "not an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
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
	if err := parseFlags(fs, []string{"--port", "4321"}, &bytes.Buffer{}, false); err != nil {
		t.Fatal(err)
	}
	if f.port != 4321 {
		t.Errorf("port = %d, want the flag's 4321", f.port)
	}
	if got := f.mqtt.String(); got != "mqtt://a:1,mqtt://b:2" {
		t.Errorf("mqtt = %q, want the environment's list", got)
	}
}

func TestHelpExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"run", "-h"}, &stdout, &stderr); code != 0 {
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
