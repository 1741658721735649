package server

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestServiceRoutesBadInput(t *testing.T) {
	p := startPair(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	peer := p.b.Address()
	for _, tt := range []struct {
		method, path, body string
		status             int
		field              string
	}{
		{"PUT", "/v1/services/Bad_Name", `{"target":"22","allow":["any"]}`, 400, "name"},
		{"PUT", "/v1/services/ssh", `{"target":"localhost","allow":["any"]}`, 400, "target"},
		{"PUT", "/v1/services/ssh", `{"target":"127.0.0.1:0","allow":["any"]}`, 400, "target"},
		{"PUT", "/v1/services/ssh", `{"target":"22","allow":[]}`, 400, "allow"},
		{"PUT", "/v1/services/ssh", `{"target":"22","allow":["me"]}`, 400, "allow"},
		{"PUT", "/v1/services/ssh", `{"target":"22","protocol":"sctp","allow":["any"]}`, 400, "protocol"},
		{"POST", "/v1/forwards", `{"peer":"nobody","service":"ssh"}`, 400, "peer"},
		{"POST", "/v1/forwards", `{"peer":"` + p.a.Address() + `","service":"ssh"}`, 400, "peer"},
		{"POST", "/v1/forwards", `{"peer":"` + peer + `","service":"no such"}`, 400, "service"},
		{"POST", "/v1/forwards", `{"peer":"` + peer + `","service":"ssh","listen":"nowhere"}`, 400, "listen"},
		{"POST", "/v1/forwards", `{"peer":"` + peer + `","service":"ssh","listen":"` + busy.Addr().String() + `"}`, 409, "listen"},
		{"POST", "/v1/connections", `{"address":"` + peer + `","service":"No!"}`, 400, "service"},
	} {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			status, body, _ := call(t, tt.method, p.apiA+tt.path, tt.body)
			if status != tt.status || body["field"] != tt.field {
				t.Errorf("%d %v, want %d naming field %q", status, body, tt.status, tt.field)
			}
		})
	}
	if status, body, _ := call(t, "DELETE", p.apiA+"/v1/services/none", ""); status != 404 || body["type"] != "https://reachd.dev/problems/no-service" {
		t.Errorf("DELETE an unknown service: %d %v", status, body)
	}
	if status, body, _ := call(t, "DELETE", p.apiA+"/v1/forwards/fnone", ""); status != 404 || body["type"] != "https://reachd.dev/problems/no-forward" {
		t.Errorf("DELETE an unknown forward: %d %v", status, body)
	}
	if status, body, _ := call(t, "GET", p.apiA+"/v1/forwards", ""); status != 200 || len(body["forwards"].([]any)) != 0 {
		t.Errorf("forwards after refused requests: %d %v, want none", status, body)
	}
}

func TestServiceRoutes(t *testing.T) {
	p := startPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprint(c, "hello from the service")
	}()
	put := `{"target":"` + ln.Addr().String() + `","allow":["` + p.a.ID() + `"]}`
	if status, body, _ := call(t, "PUT", p.apiB+"/v1/services/greet", put); status != 201 || body["protocol"] != "tcp" {
		t.Fatalf("PUT a new service: %d %v", status, body)
	}
	if status, body, _ := call(t, "PUT", p.apiB+"/v1/services/greet", put); status != 200 {
		t.Fatalf("PUT it again: %d %v, want 200", status, body)
	}
	if status, body, _ := call(t, "GET", p.apiB+"/v1/services", ""); status != 200 || len(body["services"].([]any)) != 1 {
		t.Fatalf("GET services: %d %v", status, body)
	}
	status, f, hdr := call(t, "POST", p.apiA+"/v1/forwards", `{"peer":"`+p.b.Address()+`","service":"greet"}`)
	if status != 201 || strings.HasSuffix(f["listen"].(string), ":0") || hdr.Get("Location") != "/v1/forwards/"+f["id"].(string) {
		t.Fatalf("POST a forward: %d %v", status, f)
	}
	c, err := net.Dial("tcp", f["listen"].(string))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "hello from the service" {
		t.Fatalf("read through the forward %q, %v", got, err)
	}
	if status, _, _ := call(t, "DELETE", p.apiA+"/v1/forwards/"+f["id"].(string), ""); status != 204 {
		t.Errorf("DELETE the forward: %d", status)
	}
	if _, err := net.Dial("tcp", f["listen"].(string)); err == nil {
		t.Error("the forward still listens after DELETE")
	}
	if status, _, _ := call(t, "DELETE", p.apiB+"/v1/services/greet", ""); status != 204 {
		t.Errorf("DELETE the service: %d", status)
	}
}
