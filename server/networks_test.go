package server

import (
	"os"
	"testing"
	"time"
)

// TestNetworkRoutes: bad joins are 400s naming the field, an unknown
// network 404; with root, two nodes join one network through the API,
// each lists the other with its link up, a second join is 409, and
// leaving drops the member from the other's peer table.
func TestNetworkRoutes(t *testing.T) {
	p := startPair(t)
	const secret = "correct horse battery staple"
	for _, bad := range []string{
		`{}`,
		`{"name":"lab","ip":"auto"}`,
		`{"name":"Lab!","secret":"` + secret + `","ip":"auto"}`,
		`{"name":"lab","secret":"short","ip":"auto"}`,
		`{"name":"lab","secret":"` + secret + `"}`,
		`{"name":"lab","secret":"` + secret + `","ip":"10.99.0.1"}`,
		`{"name":"lab","secret":"` + secret + `","ip":"10.99.0.0/24"}`,
		`{"name":"lab","secret":"` + secret + `","ip":"fd00::1/64"}`,
	} {
		if status, body, _ := call(t, "POST", p.apiA+"/v1/networks", bad); status != 400 {
			t.Errorf("POST %s: %d %v, want 400", bad, status, body)
		}
	}
	if status, body, _ := call(t, "GET", p.apiA+"/v1/networks/none", ""); status != 404 || body["type"] != "https://reachd.dev/problems/network-not-joined" {
		t.Errorf("GET unknown: %d %v", status, body)
	}
	if status, body, _ := call(t, "DELETE", p.apiA+"/v1/networks/none", ""); status != 404 {
		t.Errorf("DELETE unknown: %d %v", status, body)
	}
	if status, _, _ := call(t, "GET", p.apiA+"/v1/networks", ""); status != 200 {
		t.Errorf("GET list: %d", status)
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("TAP devices need root")
		}
		t.Skip("TAP devices need root")
	}

	status, a, _ := call(t, "POST", p.apiA+"/v1/networks", `{"name":"srvtest","secret":"`+secret+`","ip":"10.97.0.1/24"}`)
	if status != 201 || a["ip"] != "10.97.0.1/24" || a["auto"] != false || a["device"] == "" {
		t.Fatalf("join A: %d %v", status, a)
	}
	status, b, _ := call(t, "POST", p.apiB+"/v1/networks", `{"name":"srvtest","secret":"`+secret+`","ip":"auto"}`)
	if status != 201 || b["auto"] != true {
		t.Fatalf("join B: %d %v", status, b)
	}
	if status, body, _ := call(t, "POST", p.apiA+"/v1/networks", `{"name":"srvtest","secret":"`+secret+`","ip":"auto"}`); status != 409 {
		t.Errorf("second join: %d %v, want 409", status, body)
	}
	member := waitMember(t, p.apiA, "srvtest", p.b.ID(), true)
	if member["connection_id"] == nil || member["strategy"] == "" {
		t.Errorf("member row %v", member)
	}
	// The member link's bytes are the network's.
	linkID, _ := member["connection_id"].(string)
	if status, body, _ := call(t, "GET", p.apiA+"/v1/connections/"+linkID+"/recv?timeout_ms=0", ""); status != 409 || body["type"] != "https://reachd.dev/problems/connection-tapped" {
		t.Errorf("recv on the member link: %d %v, want 409", status, body)
	}
	if status, _ := sendData(t, p.apiA, linkID, "x"); status != 409 {
		t.Errorf("send on the member link: %d, want 409", status)
	}
	waitMember(t, p.apiB, "srvtest", p.a.ID(), true)
	_, b, _ = call(t, "GET", p.apiB+"/v1/networks/srvtest", "")
	if ip, _ := b["ip"].(string); len(ip) < 8 || ip[:8] != "10.97.0." {
		t.Errorf("B's automatic address %v is not in A's range", b["ip"])
	}
	if status, _, _ := call(t, "DELETE", p.apiB+"/v1/networks/srvtest", ""); status != 200 {
		t.Errorf("leave: %d", status)
	}
	waitMember(t, p.apiA, "srvtest", p.b.ID(), false)
	if status, _, _ := call(t, "DELETE", p.apiA+"/v1/networks/srvtest", ""); status != 200 {
		t.Errorf("leave A: %d", status)
	}
}

// waitMember waits until the network's peer table lists id with its link
// up (present) or not at all (!present), and returns its row.
func waitMember(t *testing.T, api, name, id string, present bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, info, _ := call(t, "GET", api+"/v1/networks/"+name, "")
		members, _ := info["members"].([]any)
		var row map[string]any
		for _, m := range members {
			if r, _ := m.(map[string]any); r["node_id"] == id {
				row = r
			}
		}
		if present && row != nil && row["link"] == "up" || !present && row == nil {
			return row
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: members %v; want %s present=%v (up)", api, members, id, present)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
