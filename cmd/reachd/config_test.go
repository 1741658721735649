package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "reachd.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFilePrecedence: the file sets flags of every type, an
// environment variable beats it, a flag beats both.
func TestConfigFilePrecedence(t *testing.T) {
	path := writeConfig(t, `
mqtt = ["mqtt://a.example:1883", "mqtt://b.example:1883"]
api-max-conns = 7
grace = "45s"
peer-request-rate = 2.5
request-rate = 50
link-buffer = "1MiB"
port = 4000
log-level = "debug"
`)
	t.Setenv("REACHD_GRACE", "50s")
	t.Setenv("REACHD_PORT", "4001")
	fs := flag.NewFlagSet("reachd run", flag.ContinueOnError)
	var f nodeFlags
	f.register(fs)
	registerDaemonFlags(fs, true)
	if _, err := parseFlags(fs, []string{"--config", path, "--port", "4002"}, &bytes.Buffer{}, 0); err != nil {
		t.Fatal(err)
	}
	if want := []string{"mqtt://a.example:1883", "mqtt://b.example:1883"}; !slices.Equal(f.mqtt.items, want) {
		t.Errorf("mqtt %q, want the file's %q", f.mqtt.items, want)
	}
	if f.apiMaxConns != 7 || f.peerRequestRate != 2.5 || f.requestRate != 50 || f.linkBuffer != 1<<20 || f.logLevel != "debug" {
		t.Errorf("from the file: api-max-conns %d, peer-request-rate %v, request-rate %v, link-buffer %d, log-level %q",
			f.apiMaxConns, f.peerRequestRate, f.requestRate, f.linkBuffer, f.logLevel)
	}
	if f.grace != 50*time.Second {
		t.Errorf("grace %v, want the environment's 50s over the file's 45s", f.grace)
	}
	if f.port != 4002 {
		t.Errorf("port %d, want the flag's 4002 over the environment's and the file's", f.port)
	}
}

// TestConfigFileErrors: an unknown key and a value of the wrong type are
// usage errors naming the key and the file.
func TestConfigFileErrors(t *testing.T) {
	for _, tt := range []struct{ name, text, want string }{
		{"unknown key", "mqtt = [\"mqtt://a:1\"]\nbroker = \"x\"\n", `unknown key "broker"`},
		{"config in config", "config = \"other.toml\"\n", `unknown key "config"`},
		{"string for integer", "api-max-conns = \"7\"\n", `key "api-max-conns": want an integer, got a string`},
		{"integer for duration", "grace = 30\n", `key "grace": want a duration`},
		{"integer for list", "stun = 3478\n", `key "stun": want an array of strings`},
		{"bad list item", "stun = [\"nohost\"]\n", `key "stun"`},
		{"not toml", "api = \n", "reachd.toml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.text)
			fs := flag.NewFlagSet("reachd run", flag.ContinueOnError)
			var f nodeFlags
			f.register(fs)
			registerDaemonFlags(fs, true)
			_, err := parseFlags(fs, []string{"--config=" + path}, &bytes.Buffer{}, 0)
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want a usage error naming %s and saying %q", err, path, tt.want)
			}
		})
	}
}

// TestConfigFileRepeatable: a repeatable flag given in the file is
// replaced, not added to, by the command line.
func TestConfigFileRepeatable(t *testing.T) {
	path := writeConfig(t, "turn-user = [\"a:1\", \"b:2\"]\n")
	fs := flag.NewFlagSet("reachd rendezvous", flag.ContinueOnError)
	users := multiFlag{}
	fs.Var(&users, "turn-user", "")
	registerDaemonFlags(fs, true)
	if _, err := parseFlags(fs, []string{"--config", path}, &bytes.Buffer{}, 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(users.items, []string{"a:1", "b:2"}) {
		t.Errorf("from the file: %q", users.items)
	}
	users = multiFlag{}
	fs = flag.NewFlagSet("reachd rendezvous", flag.ContinueOnError)
	fs.Var(&users, "turn-user", "")
	registerDaemonFlags(fs, true)
	if _, err := parseFlags(fs, []string{"--config", path, "--turn-user", "c:3", "--turn-user", "d:4"}, &bytes.Buffer{}, 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(users.items, []string{"c:3", "d:4"}) {
		t.Errorf("file and flags: %q, want the flags' only", users.items)
	}
}

// TestRunConfigFile: the real reachd run takes its flags from the file
// (here JSON logs), REACHD_LOG_FORMAT beats the file, --log-format beats
// both, and an unknown key stops it with exit code 2 naming the key.
func TestRunConfigFile(t *testing.T) {
	rv := rendezvoustest.Start(t)
	cfg := nodetest.Config(t, rv)
	path := writeConfig(t, `# a node on loopback
data-dir = "`+cfg.DataDir+`"
api = "127.0.0.1:0"
ntp = ["off"]
mqtt = ["`+cfg.MQTT[0]+`"]
stun = ["`+strings.Join(cfg.STUN, `", "`)+`"]
log-format = "json"
`)
	for _, tt := range []struct {
		name string
		env  string
		args []string
		json bool
	}{
		{"file", "", nil, true},
		{"environment beats the file", "REACHD_LOG_FORMAT=text", nil, false},
		{"flag beats both", "REACHD_LOG_FORMAT=json", []string{"--log-format", "text"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				k, v, _ := strings.Cut(tt.env, "=")
				t.Setenv(k, v)
			}
			d := startDaemon(t, append([]string{"--config", path}, tt.args...)...)
			out := d.stderr.String()
			line, _, _ := strings.Cut(out, "\n")
			if isJSON := strings.HasPrefix(line, "{"); isJSON != tt.json {
				t.Errorf("first log line %q: JSON %v, want %v", line, isJSON, tt.json)
			}
			d.kill(t)
		})
	}

	bad := writeConfig(t, "data-dir = \""+cfg.DataDir+"\"\nmqtt-broker = \"mqtt://x:1\"\n")
	out, err := reachdCmd("run", "--config", bad).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), `unknown key "mqtt-broker"`) {
		t.Errorf("unknown key: %v, want exit code 2 naming the key; output:\n%s", err, out)
	}
}
