package server

import (
	"strings"
	"testing"

	"github.com/reachd/reachd/identity"
)

// nearMiss is id with one character changed that is still a valid node
// ID (an Ed25519 key), as a typo that happens to decode would be.
func nearMiss(t testing.TB, id string) string {
	t.Helper()
	for _, c := range "abcdefghijklmnopqrstuvwxyz234567" {
		if near := id[:20] + string(c) + id[21:]; near != id && identity.ValidNodeID(near) == nil {
			return near
		}
	}
	t.Fatalf("no valid node ID one character from %s", id)
	return ""
}

// TestPeerRoutes: the address book's routes, and a connect, an echo and a
// ping by name and by node ID.
func TestPeerRoutes(t *testing.T) {
	p := startPair(t)
	if status, body, _ := call(t, "PUT", p.apiA+"/v1/peers/bee", `{"address":"`+p.b.Address()+`"}`); status != 201 || body["node_id"] != p.b.ID() || body["address"] != p.b.Address() || body["name"] != "bee" {
		t.Fatalf("PUT a new peer: %d %v", status, body)
	}
	if status, body, _ := call(t, "PUT", p.apiA+"/v1/peers/bee", `{"node_id":"`+p.b.ID()+`"}`); status != 200 || body["address"] != p.b.Address() {
		t.Fatalf("PUT it again by node ID: %d %v, want 200 keeping its address", status, body)
	}
	status, body, _ := call(t, "GET", p.apiA+"/v1/peers", "")
	peers, _ := body["peers"].([]any)
	if status != 200 || len(peers) != 1 || peers[0].(map[string]any)["name"] != "bee" {
		t.Fatalf("GET /v1/peers: %d %v", status, body)
	}
	for _, ref := range []string{"bee", p.b.ID()} {
		if status, body, _ := call(t, "POST", p.apiA+"/v1/connections", `{"address":"`+ref+`"}`); status != 201 || body["peer_id"] != p.b.ID() {
			t.Errorf("connect to %s: %d %v, want 201 with peer_id %s", ref, status, body, p.b.ID())
		}
		if status, body, _ := call(t, "POST", p.apiA+"/v1/echo", `{"address":"`+ref+`"}`); status != 200 {
			t.Errorf("echo %s: %d %v", ref, status, body)
		}
		if status, body, _ := call(t, "POST", p.apiA+"/v1/ping", `{"address":"`+ref+`"}`); status != 200 {
			t.Errorf("ping %s: %d %v", ref, status, body)
		}
	}
	if status, _, _ := call(t, "DELETE", p.apiA+"/v1/peers/bee", ""); status != 204 {
		t.Errorf("DELETE: %d, want 204", status)
	}
	if status, body, _ := call(t, "DELETE", p.apiA+"/v1/peers/bee", ""); status != 404 || body["type"] != "https://reachd.dev/problems/no-peer" || body["field"] != "name" {
		t.Errorf("DELETE it again: %d %v, want 404 no-peer naming name", status, body)
	}
}

// TestPeerRoutesBadInput: bad input is a 400 naming its field; a name or a
// node ID the node knows nothing of (and no node answers for) is a 404
// naming it.
func TestPeerRoutesBadInput(t *testing.T) {
	p := startPair(t)
	stranger := nearMiss(t, p.b.ID()) // b's with a typo: no node owns it
	for _, tt := range []struct {
		method, path, body string
		status             int
		field, detail      string
	}{
		{"PUT", "/v1/peers/Bad_Name", `{"address":"` + p.b.Address() + `"}`, 400, "name", "DNS label"},
		{"PUT", "/v1/peers/bee", `{"node_id":"NOTANID"}`, 400, "node_id", "node ID"},
		{"PUT", "/v1/peers/bee", `{}`, 400, "address", "required"},
		{"PUT", "/v1/peers/bee", `{"address":"0-0-0-x-y"}`, 400, "address", "node id"},
		{"POST", "/v1/connections", `{"address":"nobody"}`, 404, "address", "no peer of that name"},
		{"POST", "/v1/echo", `{"address":"` + stranger + `"}`, 404, "address", "no node with this ID answered"},
		{"POST", "/v1/ping", `{"address":"` + stranger[:51] + `b"}`, 400, "address", "node ID"},
		{"POST", "/v1/connections", `{"address":"Not A Peer"}`, 400, "address", "not a peer address"},
	} {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			status, body, _ := call(t, tt.method, p.apiA+tt.path, tt.body)
			d, _ := body["detail"].(string)
			if status != tt.status || body["field"] != tt.field || !strings.Contains(d, tt.detail) {
				t.Errorf("%d %v, want %d naming field %q, detail with %q", status, body, tt.status, tt.field, tt.detail)
			}
		})
	}
}
