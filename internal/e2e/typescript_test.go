package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// tsClientDir is the TypeScript client, relative to this package.
const tsClientDir = "../../clients/typescript"

// TestTypeScriptClient runs the TypeScript client's example against two real
// reachd nodes on loopback: it installs the client's packages (npm ci, only
// when the lock file changed), checks that the committed generated types match
// the OpenAPI document, type-checks the client against them (tsc), and runs
// examples/connect-send-recv.ts, asserting its JSON summary and, through the
// API, the connection it left on both nodes.
func TestTypeScriptClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three reachd processes and runs npm")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required under CI: %v", tool, err)
			}
			t.Skipf("%s not found (%v): install Node.js 20+ and npm to run the TypeScript client test", tool, err)
		}
	}
	dir, err := filepath.Abs(tsClientDir)
	if err != nil {
		t.Fatal(err)
	}

	// The processes start first: they probe while npm and tsc run.
	rv := tsStartProc(t, "rendezvous", regexp.MustCompile(`msg="rendezvous running".* mqtt=(\S+) .*stun="?\[([^\] ]+).*\]"? turn=(\S+)`),
		"rendezvous",
		"--mqtt-listen", "127.0.0.1:0",
		"--stun-listen", "127.0.0.1:0",
		"--turn-listen", "127.0.0.1:0",
		"--turn-user", "u:p")
	mqtt, stun, turn := rv.match[1], rv.match[2], rv.match[3]
	nodes := make([]*tsProc, 2)
	for i, name := range []string{"a", "b"} {
		nodes[i] = tsStartProc(t, "node "+name, regexp.MustCompile(`msg="reachd running".* api=(http://\S+)`),
			"run",
			"--api", "127.0.0.1:0",
			"--port", fmt.Sprint(tsFreePort(t)),
			"--data-dir", t.TempDir(),
			"--mqtt", "mqtt://"+mqtt,
			"--stun", stun,
			"--turn", "turn://u:p@"+turn,
			"--ntp", "off")
	}
	apiA, apiB := nodes[0].match[1], nodes[1].match[1]

	tsNpmCI(t, dir)
	tsCheckGenerated(t, dir)
	tsRun(t, dir, "npm", "run", "--silent", "build")

	var infoA, infoB tsNodeInfo
	for i, c := range []struct {
		api  string
		info *tsNodeInfo
	}{{apiA, &infoA}, {apiB, &infoB}} {
		nodes[i].waitFor(t, "ready", 30*time.Second, func() (bool, error) {
			status, err := tsGetJSON(c.api+"/v1/node", c.info)
			if err != nil {
				return false, err
			}
			return status == http.StatusOK && c.info.Ready && c.info.Address != "",
				fmt.Errorf("status %d, ready %v, address %q", status, c.info.Ready, c.info.Address)
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "dist/examples/connect-send-recv.js")
	cmd.Dir = dir
	cmd.Env = append(tsEnv(), "REACHD_API_A="+apiA, "REACHD_API_B="+apiB)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("example: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	t.Logf("example ran in %v; summary:\n%s", elapsed.Round(time.Millisecond), stdout.Bytes())

	var sum tsSummary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("example summary: %v\nstdout:\n%s", err, stdout.Bytes())
	}
	const hello, reply = "hello from typescript", "hello back from b"
	checks := []struct {
		name      string
		got, want any
	}{
		{"ok", sum.OK, true},
		{"error", sum.Error, ""},
		{"a.node_id", sum.A.NodeID, infoA.NodeID},
		{"b.node_id", sum.B.NodeID, infoB.NodeID},
		{"a_to_b.sent", sum.AToB.Sent, hello},
		{"a_to_b.received", sum.AToB.Received, hello},
		{"b_to_a.sent", sum.BToA.Sent, reply},
		{"b_to_a.received", sum.BToA.Received, reply},
		{"outbound.peer_id", sum.Outbound.PeerID, infoB.NodeID},
		{"outbound.direction", sum.Outbound.Direction, "outbound"},
		{"outbound.state", sum.Outbound.State, "closed"},
		{"outbound.bytes_sent", sum.Outbound.BytesSent, uint64(len(hello))},
		{"outbound.bytes_received", sum.Outbound.BytesReceived, uint64(len(reply))},
		{"inbound.peer_id", sum.Inbound.PeerID, infoA.NodeID},
		{"inbound.direction", sum.Inbound.Direction, "inbound"},
		{"inbound.state", sum.Inbound.State, "closed"},
		{"inbound.strategy", sum.Inbound.Strategy, sum.Outbound.Strategy},
		{"inbound.bytes_sent", sum.Inbound.BytesSent, uint64(len(reply))},
		{"inbound.bytes_received", sum.Inbound.BytesReceived, uint64(len(hello))},
		{"b_recv_after_close", sum.BRecvAfterClose, "end"},
		{"not_found.status", sum.NotFound.Status, 404},
		{"not_found.type", sum.NotFound.Type, "https://reachd.dev/problems/no-connection"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("summary %s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if !strings.Contains(sum.NotFound.Detail, "no connection") {
		t.Errorf("summary not_found.detail = %q, want the problem's detail (no connection ...)", sum.NotFound.Detail)
	}
	switch sum.Outbound.Strategy {
	case "direct", "reverse", "punch", "relay":
	default:
		t.Errorf("summary outbound.strategy = %q, want a strategy name", sum.Outbound.Strategy)
	}

	// The nodes agree with the example, independently of the client.
	for _, c := range []struct {
		api, id, peer string
		sent, recv    uint64
	}{
		{apiA, sum.Outbound.ID, infoB.NodeID, uint64(len(hello)), uint64(len(reply))},
		{apiB, sum.Inbound.ID, infoA.NodeID, uint64(len(reply)), uint64(len(hello))},
	} {
		var got struct {
			PeerID        string `json:"peer_id"`
			State         string `json:"state"`
			BytesSent     uint64 `json:"bytes_sent"`
			BytesReceived uint64 `json:"bytes_received"`
		}
		status, err := tsGetJSON(c.api+"/v1/connections/"+c.id, &got)
		if err != nil || status != http.StatusOK {
			t.Errorf("GET %s/v1/connections/%s: status %d, %v", c.api, c.id, status, err)
			continue
		}
		if got.PeerID != c.peer || got.State != "closed" || got.BytesSent != c.sent || got.BytesReceived != c.recv {
			t.Errorf("connection %s on %s = %+v, want peer %s, closed, %d bytes sent, %d received", c.id, c.api, got, c.peer, c.sent, c.recv)
		}
	}
}

// tsNodeInfo is what the test reads of GET /v1/node.
type tsNodeInfo struct {
	NodeID  string `json:"node_id"`
	Address string `json:"address"`
	Ready   bool   `json:"ready"`
}

// tsSummary is the JSON summary the example prints.
type tsSummary struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	A     struct {
		API    string `json:"api"`
		NodeID string `json:"node_id"`
	} `json:"a"`
	B struct {
		API    string `json:"api"`
		NodeID string `json:"node_id"`
	} `json:"b"`
	Outbound tsConn `json:"outbound"`
	Inbound  tsConn `json:"inbound"`
	AToB     struct {
		Sent     string `json:"sent"`
		Received string `json:"received"`
	} `json:"a_to_b"`
	BToA struct {
		Sent     string `json:"sent"`
		Received string `json:"received"`
	} `json:"b_to_a"`
	BRecvAfterClose string `json:"b_recv_after_close"`
	NotFound        struct {
		Status int    `json:"status"`
		Type   string `json:"type"`
		Detail string `json:"detail"`
	} `json:"not_found"`
	ElapsedMS int64 `json:"elapsed_ms"`
}

type tsConn struct {
	ID            string `json:"id"`
	PeerID        string `json:"peer_id"`
	Direction     string `json:"direction"`
	Strategy      string `json:"strategy"`
	State         string `json:"state"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
}

// tsNpmCI installs the client's packages unless node_modules already holds
// exactly what package-lock.json says (a stamp of the lock's hash, written
// after a successful npm ci).
func tsNpmCI(t *testing.T, dir string) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(dir, "node_modules", ".reachd-lock-sha256")
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		return
	}
	tsRun(t, dir, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tsCheckGenerated regenerates the types from the OpenAPI document, with
// the package's own script (the command users run), and fails when they
// differ from the committed src/schema.d.ts.
func tsCheckGenerated(t *testing.T, dir string) {
	t.Helper()
	out, err := tsCommand(dir, "npm", "run", "--silent", "generate:check")
	if err != nil {
		t.Fatalf("clients/typescript/src/schema.d.ts is not what openapi/openapi.json generates: "+
			"run `npm run generate` in clients/typescript and commit it (%v)\n%s", err, out)
	}
}

// tsRun runs a command in dir and returns its standard output; its output
// is shown only when it fails.
func tsRun(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	if out, err := tsCommand(dir, name, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// tsCommand runs a command in dir (for at most five minutes) and returns
// its output, standard output and error together.
func tsCommand(dir, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = tsEnv()
	return cmd.CombinedOutput()
}

// tsEnv is the environment without REACHD_* variables, which would
// configure the nodes (and the example) behind the test's back.
func tsEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REACHD_") {
			env = append(env, kv)
		}
	}
	return env
}

// tsFreePort is a TCP port that was free on 127.0.0.1 a moment ago.
func tsFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func tsGetJSON(url string, v any) (int, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
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

// tsProc is a reachd process on loopback whose log is kept for failures.
type tsProc struct {
	name  string
	cmd   *exec.Cmd
	match []string      // submatches of the startup line
	done  chan struct{} // closed when the process has exited
	err   error         // Wait's result, set before done closes

	mu  sync.Mutex
	log bytes.Buffer
}

func (p *tsProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// tsStartProc starts reachd with args and waits for the stderr line that
// matches started (the process reports the addresses it bound there). The
// process is interrupted, then killed, in cleanup.
func tsStartProc(t *testing.T, name string, started *regexp.Regexp, args ...string) *tsProc {
	t.Helper()
	p := &tsProc{name: name, done: make(chan struct{})}
	pr, pw := io.Pipe()
	p.cmd = exec.Command(reachdBin, args...)
	p.cmd.Env = tsEnv()
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
func (p *tsProc) waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
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
