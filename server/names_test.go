package server

import (
	"testing"
)

// TestNameRoutes: register, list, resolve (from another node), a second
// node's claim (409), drop, and the errors, each answer checked against
// the OpenAPI document.
func TestNameRoutes(t *testing.T) {
	p := startPair(t)
	status, body, _ := call(t, "PUT", p.apiA+"/v1/names/alpha", "")
	if status != 201 || body["name"] != "alpha" || body["node_id"] != p.a.ID() || body["address"] != p.a.Address() {
		t.Fatalf("PUT a new name: %d %v", status, body)
	}
	if status, body, _ := call(t, "PUT", p.apiA+"/v1/names/alpha", ""); status != 200 {
		t.Errorf("PUT it again: %d %v, want 200", status, body)
	}
	status, body, _ = call(t, "GET", p.apiA+"/v1/names", "")
	if list, _ := body["names"].([]any); status != 200 || len(list) != 1 {
		t.Errorf("GET /v1/names: %d %v", status, body)
	}
	status, body, _ = call(t, "GET", p.apiB+"/v1/names/alpha", "")
	if status != 200 || body["node_id"] != p.a.ID() || body["source"] != "names" || body["service"] == nil {
		t.Errorf("GET the name from b: %d %v", status, body)
	}
	if status, body, _ := call(t, "POST", p.apiB+"/v1/echo", `{"address":"alpha"}`); status != 200 {
		t.Errorf("echo to the name: %d %v", status, body)
	}
	if status, body, _ := call(t, "POST", p.apiB+"/v1/connections", `{"address":"alpha"}`); status != 201 || body["peer_id"] != p.a.ID() || body["peer_source"] != "names" {
		t.Errorf("connect to the name: %d %v, want 201 with peer_source names", status, body)
	}
	if status, body, _ := call(t, "PUT", p.apiB+"/v1/names/alpha", ""); status != 409 || body["type"] != "https://reachd.dev/problems/name-taken" {
		t.Errorf("b claims a's name: %d %v, want 409 name-taken", status, body)
	}
	if status, body, _ := call(t, "PUT", p.apiB+"/v1/names/Bad_Name", ""); status != 400 {
		t.Errorf("a bad name: %d %v, want 400", status, body)
	}
	if status, body, _ := call(t, "DELETE", p.apiB+"/v1/names/alpha", ""); status != 404 || body["type"] != "https://reachd.dev/problems/no-name" {
		t.Errorf("b drops a's name: %d %v, want 404", status, body)
	}
	if status, body, _ := call(t, "DELETE", p.apiA+"/v1/names/alpha", ""); status != 204 {
		t.Errorf("DELETE: %d %v", status, body)
	}
	if status, body, _ := call(t, "GET", p.apiB+"/v1/names/alpha", ""); status != 404 || body["type"] != "https://reachd.dev/problems/no-name" {
		t.Errorf("GET after the drop: %d %v, want 404 no-name", status, body)
	}
}
