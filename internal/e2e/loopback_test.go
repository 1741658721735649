package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fixtures for tests of real reachd processes on loopback: a rendezvous and
// nodes started from reachdBin, their ports chosen by reachd itself and read
// from their startup lines.

// cleanEnv is the environment without REACHD_* variables, which would
// configure the nodes (and clients) behind the test's back, but for
// REACHD_PORTMAP=false: a node on loopback asks no gateway of this machine
// for a port mapping.
func cleanEnv() []string {
	env := []string{"REACHD_PORTMAP=false"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REACHD_") {
			env = append(env, kv)
		}
	}
	return env
}

func getJSONURL(url string, v any) (int, error) {
	return getJSON(&http.Client{Timeout: 5 * time.Second}, url, v)
}

// proc is a reachd process on loopback whose log is kept for failures.
type proc struct {
	name  string
	cmd   *exec.Cmd
	match []string      // submatches of the startup line
	done  chan struct{} // closed when the process has exited
	err   error         // Wait's result, set before done closes

	mu  sync.Mutex
	log bytes.Buffer
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startProc starts reachd with args and waits for the stderr line that
// matches started (the process reports the addresses it bound there). The
// process is interrupted, then killed, in cleanup.
func startProc(t *testing.T, name string, started *regexp.Regexp, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd = exec.Command(reachdBin, args...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout = pw
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	found := make(chan []string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if m := started.FindStringSubmatch(line); m != nil {
				select {
				case found <- m:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
		<-scanned
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	select {
	case p.match = <-found:
	case <-p.done:
		t.Fatalf("%s exited (%v) before it was running; output:\n%s", name, p.err, p.output())
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: no startup line after 15s; output:\n%s", name, p.output())
	}
	return p
}

// waitFor polls cond every 50ms until it holds, the process exits, or the
// timeout passes.
func (p *proc) waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s %s: process exited (%v)", p.name, what, p.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: not after %v (last: %v)", p.name, what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loopNode is a reachd run process on loopback.
type loopNode struct {
	*proc
	api string // http://127.0.0.1:port
}

// startLoopback starts a reachd rendezvous and n reachd run processes
// using it, all on loopback with ports of reachd's choosing (a peer port
// derived from the node ID, or any free one when that is taken: a port
// picked for it beforehand could be taken by a parallel test), and returns
// the nodes once they are running (not yet ready: see waitReady).
func startLoopback(t *testing.T, n int, extra ...string) []loopNode {
	t.Helper()
	rv := startProc(t, "rendezvous", regexp.MustCompile(`msg="rendezvous running".* mqtt=(\S+) .*stun="?\[([^\] ]+).*\]"? turn=(\S+)`),
		"rendezvous",
		"--mqtt-listen", "127.0.0.1:0",
		"--stun-listen", "127.0.0.1:0",
		"--turn-listen", "127.0.0.1:0",
		"--turn-user", "u:p")
	mqtt, stun, turn := rv.match[1], rv.match[2], rv.match[3]
	nodes := make([]loopNode, n)
	for i := range nodes {
		name := fmt.Sprintf("node %c", 'a'+i)
		args := append([]string{"run",
			"--api", "127.0.0.1:0",
			"--data-dir", t.TempDir(),
			"--mqtt", "mqtt://" + mqtt,
			"--stun", stun,
			"--turn", "turn://u:p@" + turn,
			"--ntp", "off"}, extra...)
		p := startProc(t, name, regexp.MustCompile(`msg="reachd running".* api=(http://\S+)`), args...)
		nodes[i] = loopNode{proc: p, api: p.match[1]}
	}
	return nodes
}

// ready waits until the node reports ready with an address, and returns
// what it reported.
func (n loopNode) ready(t *testing.T, v any) {
	t.Helper()
	n.waitFor(t, "ready", 30*time.Second, func() (bool, error) {
		var info struct {
			Ready   bool   `json:"ready"`
			Address string `json:"address"`
		}
		status, err := getJSONURL(n.api+"/v1/node", &info)
		if err != nil {
			return false, err
		}
		if status != http.StatusOK || !info.Ready || info.Address == "" {
			return false, fmt.Errorf("status %d, ready %v, address %q", status, info.Ready, info.Address)
		}
		if v != nil {
			_, err = getJSONURL(n.api+"/v1/node", v)
		}
		return err == nil, err
	})
}
