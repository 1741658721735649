package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// serve, forward and nc PEER/SERVICE against two live nodes: B offers an
// echo server, A reaches it through nc and through a forward.
func TestServeForwardNC(t *testing.T) {
	p := startPair(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := func(api string, stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{args[0], "--api", api}, args[1:]...), strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, e := cmd(p.apiB, "", "serve", "echo", ln.Addr().String()); code != 2 || !strings.Contains(e, "--allow") {
		t.Errorf("serve without --allow: exit %d %q, want 2 asking for --allow", code, e)
	}
	if code, out, e := cmd(p.apiB, "", "serve", "echo", ln.Addr().String(), "--allow", p.a.ID()); code != 0 || !strings.Contains(out, "as echo") {
		t.Fatalf("serve: exit %d %q %q", code, out, e)
	}
	if code, out, _ := cmd(p.apiB, "", "serve"); code != 0 || !strings.Contains(out, "echo") || !strings.Contains(out, ln.Addr().String()) {
		t.Errorf("serve (list): exit %d %q", code, out)
	}
	if code, out, e := cmd(p.apiA, "hello through nc\n", "nc", p.b.Address()+"/echo"); code != 0 || out != "hello through nc\n" {
		t.Errorf("nc PEER/SERVICE: exit %d out %q err %q", code, out, e)
	}
	if code, out, e := cmd(p.apiA, "", "nc", p.b.Address()+"/nothere"); code == 0 || !strings.Contains(e, "no such service") {
		t.Errorf("nc to a missing service: exit %d out %q err %q, want a failure saying no such service", code, out, e)
	}
	code, out, e := cmd(p.apiA, "", "forward", p.b.Address()+"/echo")
	if code != 0 || !strings.Contains(out, "127.0.0.1:") {
		t.Fatalf("forward: exit %d %q %q", code, out, e)
	}
	fields := strings.Fields(out) // forward ID: tcp LISTEN -> PEER/SERVICE
	id, listen := strings.TrimSuffix(fields[1], ":"), fields[3]
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Errorf("through the forward: %q %v", buf, err)
	}
	c.Close()
	if code, out, _ := cmd(p.apiA, "", "forward"); code != 0 || !strings.Contains(out, id) {
		t.Errorf("forward (list): exit %d %q, want %s", code, out, id)
	}
	if code, out, e := cmd(p.apiA, "", "forward", "--off", id); code != 0 || out != "forward "+id+" stopped\n" {
		t.Errorf("forward --off: exit %d %q %q", code, out, e)
	}
	if code, out, _ := cmd(p.apiB, "", "serve", "--off", "echo"); code != 0 || out != "service echo removed\n" {
		t.Errorf("serve --off: exit %d %q", code, out)
	}
	if code, out, _ := cmd(p.apiB, "", "serve", "--json"); code != 0 || out != "{\n  \"services\": []\n}\n" {
		t.Errorf("serve --json with none: exit %d %q", code, out)
	}
}
