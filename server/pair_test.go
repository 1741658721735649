package server

import (
	"testing"
)

// TestPairRoutes: an offer and a join through the API save each node in
// the other's address book; the used code is then a 403, bad input a 400
// naming its field. The exchanges are checked against the OpenAPI document.
func TestPairRoutes(t *testing.T) {
	p := startPair(t)
	for _, tt := range []struct {
		body, field string
	}{
		{`{"code":"12-amber-falcon-river","name":"Bad_Name"}`, "name"},
		{`{"code":"12-amber-falcon"}`, "name"},
		{`{"code":"12-amber-falcon-nope","name":"ay"}`, "code"},
	} {
		if status, body, _ := call(t, "POST", p.apiB+"/v1/pair/join", tt.body); status != 400 || body["field"] != tt.field {
			t.Errorf("join %s: %d %v, want 400 naming %s", tt.body, status, body, tt.field)
		}
	}
	if status, body, _ := call(t, "POST", p.apiA+"/v1/pair", `{"name":"Bad_Name"}`); status != 400 || body["field"] != "name" {
		t.Errorf("offer with a bad name: %d %v, want 400 naming name", status, body)
	}

	status, offer, _ := call(t, "POST", p.apiA+"/v1/pair", `{"name":"bee"}`)
	code, _ := offer["code"].(string)
	if status != 201 || code == "" || offer["expires_at"] == nil {
		t.Fatalf("POST /v1/pair: %d %v", status, offer)
	}
	status, peer, _ := call(t, "POST", p.apiB+"/v1/pair/join", `{"code":"`+code+`","name":"ay"}`)
	if status != 201 || peer["name"] != "ay" || peer["node_id"] != p.a.ID() || peer["address"] != p.a.Address() {
		t.Fatalf("POST /v1/pair/join: %d %v, want 201 with a saved as ay", status, peer)
	}
	_, book, _ := call(t, "GET", p.apiA+"/v1/peers", "")
	peers, _ := book["peers"].([]any)
	if len(peers) != 1 || peers[0].(map[string]any)["name"] != "bee" || peers[0].(map[string]any)["node_id"] != p.b.ID() {
		t.Errorf("the offerer's book: %v, want b saved as bee", book)
	}
	if status, body, _ := call(t, "POST", p.apiB+"/v1/pair/join", `{"code":"`+code+`","name":"ay2"}`); status != 403 || body["type"] != "https://reachd.dev/problems/pair-refused" {
		t.Errorf("joining a used code: %d %v, want 403 pair-refused", status, body)
	}
}
