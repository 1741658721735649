package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// reachdBin is the reachd binary built for this test run.
var reachdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "reachd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	reachdBin = filepath.Join(dir, "reachd")
	build := exec.Command("go", "build", "-o", reachdBin, "github.com/reachd/reachd/cmd/reachd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build reachd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// apiClient talks to a node's API on 127.0.0.1 inside the host's namespace.
type apiClient struct {
	t    testing.TB
	base string
	http *http.Client
}

func newAPIClient(t testing.TB, h *natlab.Host, apiAddr string) *apiClient {
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := h.Do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}
	return &apiClient{t: t, base: "http://" + apiAddr, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// getJSON GETs path and decodes the JSON answer into v, returning the status.
func (c *apiClient) getJSON(path string, v any) (int, error) {
	return getJSON(c.http, c.base+path, v)
}

// getJSON GETs url with client and decodes the JSON answer into v,
// returning the status.
func getJSON(client *http.Client, url string, v any) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return resp.StatusCode, fmt.Errorf("decode %s: %w (body %q)", url, err, body)
	}
	return resp.StatusCode, nil
}

// waitFor polls cond every 50ms until it holds, the process dies, or the
// deadline passes.
func waitFor(t testing.TB, what string, p *natlab.Process, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if p != nil {
			select {
			case <-p.Done():
				t.Fatalf("%s: process exited; output:\n%s", what, p.Output())
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v (last error: %v)", what, timeout, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startRendezvous runs reachd rendezvous in the lab's WAN namespace with
// STUN on both WAN addresses (RFC 5780), TURN, and MQTT, and waits until it
// accepts MQTT connections (everything is bound before that). extra are
// further flags of reachd rendezvous.
func startRendezvous(t testing.TB, lab *natlab.Lab, extra ...string) wanServices {
	t.Helper()
	w := lab.WANAddrs()
	s := wanServices{
		MQTT: fmt.Sprintf("mqtt://%s:1883", w[0]),
		STUN: fmt.Sprintf("%s:3478", w[0]),
		TURN: fmt.Sprintf("turn://lab:labpass@%s:3480", w[0]),
	}
	p := lab.WAN().Start(t, reachdBin, append([]string{"rendezvous",
		"--mqtt-listen", fmt.Sprintf("%s:1883", w[0]),
		"--stun-listen", fmt.Sprintf("%s:3478,%s:3479", w[0], w[1]),
		"--turn-listen", fmt.Sprintf("%s:3480", w[0]),
		"--turn-user", "lab:labpass",
		"--public-ip", w[0].String()}, extra...)...)
	waitFor(t, "rendezvous up", p, 15*time.Second, func() (bool, error) {
		err := lab.WAN().Do(func() error {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:1883", w[0]), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		return err == nil, err
	})
	s.proc = p
	return s
}

type wanServices struct {
	MQTT, STUN, TURN string
	proc             *natlab.Process
}

// nodeArgs are the reachd run flags for a lab node.
func (s wanServices) nodeArgs(dataDir, ntp string, port int) []string {
	return []string{"run",
		"--api", "127.0.0.1:12333",
		"--port", fmt.Sprint(port),
		"--data-dir", dataDir,
		"--mqtt", s.MQTT,
		"--stun", s.STUN,
		"--turn", s.TURN,
		"--ntp", ntp,
		"--log-level", "debug",
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
