package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	nodes := startLoopback(t, 2)
	apiA, apiB := nodes[0].api, nodes[1].api

	tsNpmCI(t, dir)
	tsCheckGenerated(t, dir)
	tsRun(t, dir, "npm", "run", "--silent", "build")

	var infoA, infoB tsNodeInfo
	nodes[0].ready(t, &infoA)
	nodes[1].ready(t, &infoB)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "dist/examples/connect-send-recv.js")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "REACHD_API_A="+apiA, "REACHD_API_B="+apiB)
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
		status, err := getJSONURL(c.api+"/v1/connections/"+c.id, &got)
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
	cmd.Env = cleanEnv()
	return cmd.CombinedOutput()
}
