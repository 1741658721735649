package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestPairLab: two nodes behind NATs that have never exchanged addresses
// pair through the REST API with a code, then each connects to the other
// by the name it saved. A second offer, followed by reachd pair on the
// offering node, ends at the first wrong code (the joiner gets a 403, the
// offering command says the pairing failed), and the right code then
// fails too.
func TestPairLab(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"a": lab.AddRouter(natlab.Easy).AddHost(),
		"b": lab.AddRouter(natlab.Easy).AddHost(),
	})
	a, b := nodes["a"], nodes["b"]

	type problem struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
	join := func(code, name string) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"code": code, "name": name})
		var out map[string]any
		status, err := b.api.do("POST", "/v1/pair/join", string(body), &out)
		if err != nil {
			t.Fatalf("POST /v1/pair/join: %v", err)
		}
		return status, out
	}

	t.Run("pair, then connect by name", func(t *testing.T) {
		var offer struct {
			Code      string    `json:"code"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		if status, err := a.api.do("POST", "/v1/pair", `{"name":"bee"}`, &offer); err != nil || status != 201 || offer.Code == "" {
			t.Fatalf("POST /v1/pair: %d %v %+v", status, err, offer)
		}
		if left := time.Until(offer.ExpiresAt); left < 9*time.Minute || left > 11*time.Minute {
			t.Errorf("offer expires in %v, want 10 minutes", left)
		}
		start := time.Now()
		status, peer := join(offer.Code, "ay")
		took := time.Since(start)
		if status != 201 || peer["node_id"] != a.info.NodeID || peer["name"] != "ay" || peer["address"] == "" {
			t.Fatalf("POST /v1/pair/join: %d %v, want 201 with a (%s) saved as ay", status, peer, a.info.NodeID)
		}
		var book struct {
			Peers []struct {
				Name    string `json:"name"`
				NodeID  string `json:"node_id"`
				Address string `json:"address"`
			} `json:"peers"`
		}
		if status, err := a.api.do("GET", "/v1/peers", "", &book); err != nil || status != 200 || len(book.Peers) != 1 ||
			book.Peers[0].Name != "bee" || book.Peers[0].NodeID != b.info.NodeID || book.Peers[0].Address == "" {
			t.Fatalf("a's address book: %d %v %+v, want b saved as bee", status, err, book)
		}
		var echo struct {
			RTTMS float64 `json:"rtt_ms"`
		}
		if status, err := b.api.do("POST", "/v1/echo", `{"address":"ay"}`, &echo); err == nil && status == 200 && echo.RTTMS > 0 {
			t.Logf("the join took %v: %.1f signaling round trips of %.1f ms", took.Round(time.Millisecond), float64(took.Microseconds())/1000/echo.RTTMS, echo.RTTMS)
		}
		for _, tc := range []struct {
			from *labNode
			name string
			want string
		}{{a, "bee", b.info.NodeID}, {b, "ay", a.info.NodeID}} {
			var c connection
			status, err := tc.from.api.do("POST", "/v1/connections", `{"address":"`+tc.name+`"}`, &c)
			if err != nil || status != 201 || c.PeerID != tc.want {
				t.Errorf("%s: connect to %s: %d %v %+v, want 201 to %s", tc.from.name, tc.name, status, err, c, tc.want)
			}
		}
	})

	t.Run("a wrong code ends the offer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := a.host.Command(ctx, reachdBin, "pair")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(stdout)
		var code string
		var out []string
		for lines.Scan() {
			out = append(out, lines.Text())
			if c, ok := strings.CutPrefix(lines.Text(), "pairing code: "); ok {
				code = c
			}
			if strings.HasSuffix(lines.Text(), "waiting...") {
				break
			}
		}
		if code == "" {
			cmd.Wait()
			t.Fatalf("reachd pair printed no code: %q %s", out, stderr.String())
		}
		parts := strings.Split(code, "-")
		parts[1], parts[2] = parts[2], parts[1] // the right words, in a wrong order
		if parts[1] == parts[2] {
			parts[1] = map[bool]string{true: "zebra", false: "acid"}[parts[1] == "acid"]
		}
		wrong := strings.Join(parts, "-")
		var p problem
		status, body := join(wrong, "x")
		raw, _ := json.Marshal(body)
		json.Unmarshal(raw, &p)
		if status != 403 || p.Type != "https://reachd.dev/problems/pair-refused" || !strings.Contains(p.Detail, "wrong pairing code") {
			t.Errorf("join with a wrong code: %d %s, want 403 pair-refused: wrong pairing code", status, raw)
		}
		for lines.Scan() {
			out = append(out, lines.Text())
		}
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "pairing failed: wrong pairing code") {
			t.Errorf("reachd pair: exit %d, stdout %q, stderr %q; want 1 saying the pairing failed: wrong pairing code", code, out, stderr.String())
		}
		status, body = join(code, "x")
		raw, _ = json.Marshal(body)
		json.Unmarshal(raw, &p)
		if status != 403 || p.Type != "https://reachd.dev/problems/pair-refused" || !strings.Contains(p.Detail, "used") {
			t.Errorf("join with the right code after a wrong one: %d %s, want 403 pair-refused: used", status, raw)
		}
	})
}
