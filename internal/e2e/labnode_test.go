package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// labPort is the peer listen port of every lab node (and the forwarded port).
const labPort = 40000

// labNode is a reachd run process on a lab host, with its API client.
type labNode struct {
	name string
	host *natlab.Host
	proc *natlab.Process
	api  *apiClient
	info nodeInfo
	args []string // of reachd run, to start it again (restart)

	mu      sync.Mutex
	claimed map[string]bool // inbound connections inbound returned
}

// startLabNodes starts reachd on each host concurrently, with the extra
// flags of reachd run, and waits until all are ready.
func startLabNodes(t testing.TB, wan wanServices, ntp string, hosts map[string]*natlab.Host, extra ...string) map[string]*labNode {
	t.Helper()
	nodes := map[string]*labNode{}
	for name, h := range hosts {
		args := append(wan.nodeArgs(t.TempDir(), ntp, labPort), extra...)
		p := h.Start(t, reachdBin, args...)
		nodes[name] = &labNode{name: name, host: h, proc: p, api: newAPIClient(t, h, "127.0.0.1:12333"), args: args}
	}
	for _, n := range nodes {
		n.info = waitReady(t, n.api, n.proc)
	}
	return nodes
}

// do sends a JSON request to the node's API and decodes the JSON answer.
func (c *apiClient) do(method, path, body string, v any) (int, error) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if v != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, v); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %s %s: %w (body %q)", method, path, err, raw)
		}
	}
	return resp.StatusCode, nil
}

// connection is the API's connection object, and the failure problem's
// members.
type connection struct {
	ID         string `json:"id"`
	PeerID     string `json:"peer_id"`
	Direction  string `json:"direction"`
	Strategy   string `json:"strategy"`
	State      string `json:"state"`
	RemoteAddr string `json:"remote_addr"`
	Attempts   []struct {
		Name       string `json:"name"`
		Outcome    string `json:"outcome"`
		Reason     string `json:"reason"`
		Class      string `json:"class"`
		MS         int64  `json:"ms"`
		StartedMS  int64  `json:"started_ms"`
		FinishedMS int64  `json:"finished_ms"`
		Steps      []struct {
			Name string `json:"name"`
			MS   int64  `json:"ms"`
		} `json:"steps"`
	} `json:"attempts"`
	Detail string `json:"detail"`
}

// connect asks from's API for a connection to to's address.
func connect(t testing.TB, from, to *labNode, strategies ...string) (int, connection) {
	t.Helper()
	return connectWith(t, from, to, false, strategies...)
}

// connectFresh is connect that races for a new path even when the nodes
// have one (connects to a peer with a path open on it, with no race).
func connectFresh(t testing.TB, from, to *labNode, strategies ...string) (int, connection) {
	t.Helper()
	return connectWith(t, from, to, true, strategies...)
}

func connectWith(t testing.TB, from, to *labNode, fresh bool, strategies ...string) (int, connection) {
	t.Helper()
	body := map[string]any{"address": to.info.Address}
	if len(strategies) > 0 {
		body["strategies"] = strategies
	}
	if fresh {
		body["fresh"] = true
	}
	b, _ := json.Marshal(body)
	var c connection
	status, err := from.api.do("POST", "/v1/connections", string(b), &c)
	if err != nil {
		t.Fatalf("connect %s -> %s: %v", from.name, to.name, err)
	}
	return status, c
}

// inbound waits until n lists an open inbound connection from peer made by
// strategy that it has not returned before, and returns it: connections
// to one peer share its path, so the one a test just opened is the newest
// one not seen yet.
func (n *labNode) inbound(t testing.TB, peer, strategy string) connection {
	t.Helper()
	var found connection
	waitFor(t, fmt.Sprintf("%s lists an inbound %s connection", n.name, strategy), n.proc, 10*time.Second, func() (bool, error) {
		var list struct {
			Connections []connection `json:"connections"`
		}
		if _, err := n.api.do("GET", "/v1/connections", "", &list); err != nil {
			return false, err
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		ok := false
		for _, c := range list.Connections { // oldest first: the newest wins
			if c.Direction == "inbound" && c.PeerID == peer && c.Strategy == strategy && c.State == "open" && !n.claimed[c.ID] {
				found, ok = c, true
			}
		}
		if ok {
			if n.claimed == nil {
				n.claimed = map[string]bool{}
			}
			n.claimed[found.ID] = true
		}
		return ok, nil
	})
	return found
}

func (n *labNode) close(t testing.TB, id string) {
	t.Helper()
	if status, err := n.api.do("DELETE", "/v1/connections/"+id, "", nil); err != nil || status != 200 {
		t.Errorf("%s: close %s: %d %v", n.name, id, status, err)
	}
}
