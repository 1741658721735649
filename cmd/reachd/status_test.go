package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/reachd/reachd/address"
)

func TestStatus(t *testing.T) {
	p := startPair(t, "")
	bAddr, err := address.Parse(p.b.Address())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.a.Connect(context.Background(), bAddr, []string{"direct"}); err != nil {
		t.Fatal(err)
	}
	info := p.a.Info()

	t.Run("text", func(t *testing.T) {
		code, out, errOut := reachd(t, nil, "status", "--api", p.apiA)
		if code != 0 {
			t.Fatalf("exit code %d; stderr: %s", code, errOut)
		}
		want := []string{
			"node         " + p.a.ID() + "\n",
			"api          http://" + p.apiA + "\n",
			"ready        yes",
			"address      " + p.a.Address() + "\n",
			"listen port  " + strconv.Itoa(int(info.ListenPort)) + "\n",
			"interfaces\n",
			"brokers\n  " + info.Brokers[0].URL + "  connected\n",
			"clock        the local clock (NTP off)\n",
			"connections  1 open (1 outbound, 0 inbound)\n",
			"peers\n",
			"PEER ",
		}
		// The peer's row: its short ID, the path's strategy and addresses.
		row := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(shortID(p.b.ID())) + ` +direct +\S+ -> \S+ +(\d+\.\dms|-) +\d`)
		if !row.MatchString(out) {
			t.Errorf("status has no row for peer %s over direct:\n%s", p.b.ID(), out)
		}
		for _, ifc := range info.Interfaces {
			want = append(want,
				"  "+ifc.Name+" "+ifc.IP.String()+"\n",
				"    tcp  "+ifc.TCP.NAT.String(),
				"    udp  "+ifc.UDP.NAT.String())
			if ifc.TCP.ExternalIP.IsValid() {
				want = append(want, ", external "+ifc.TCP.ExternalIP.String())
			}
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("status does not show %q:\n%s", w, out)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		code, out, errOut := reachd(t, nil, "status", "--json", "--api", p.apiA)
		if code != 0 {
			t.Fatalf("exit code %d; stderr: %s", code, errOut)
		}
		var got struct {
			NodeID     string           `json:"node_id"`
			Ready      bool             `json:"ready"`
			Interfaces []map[string]any `json:"interfaces"`
			Peers      []struct {
				NodeID string `json:"node_id"`
				Path   struct {
					Strategy string `json:"strategy"`
				} `json:"path"`
			} `json:"peers"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if got.NodeID != p.a.ID() || !got.Ready || len(got.Interfaces) != len(info.Interfaces) {
			t.Errorf("status --json = %+v, want node %s, ready, %d interfaces", got, p.a.ID(), len(info.Interfaces))
		}
		if len(got.Peers) != 1 || got.Peers[0].NodeID != p.b.ID() || got.Peers[0].Path.Strategy != "direct" {
			t.Errorf("status --json peers = %+v, want %s over direct", got.Peers, p.b.ID())
		}
		if !strings.HasSuffix(out, "}\n") {
			t.Errorf("output does not end in one newline: %q", out[max(0, len(out)-10):])
		}
	})
}

// TestStatusWaiting: a node that is not ready says what it waits for.
func TestStatusWaiting(t *testing.T) {
	var b strings.Builder
	writeStatus(&b, "http://api", nodeStatus{WaitingFor: []string{"interface", "broker"}}, nil)
	want := "ready        no: waiting for an interface to reach peers on and a connected signaling broker\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("status:\n%s\nwant %q", b.String(), want)
	}
	if !strings.Contains(b.String(), "peers        none\n") {
		t.Errorf("status:\n%s\nwant no peers", b.String())
	}
}

func TestAPIUnreachable(t *testing.T) {
	api := closedAddr(t)
	addr := fakeAddress(t)
	tests := []struct {
		name string
		args []string
	}{
		{"status", []string{"status", "--api", api}},
		{"connect", []string{"connect", "--api", api, addr}},
		{"nc", []string{"nc", "--api", api, addr}},
		{"nc id", []string{"nc", "--api", api, "--id", "c1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := reachd(t, nil, tt.args...)
			if code != 1 {
				t.Fatalf("exit code %d, want 1; stderr: %s", code, errOut)
			}
			for _, want := range []string{"cannot reach the reachd API at http://" + api, "connection refused", `is "reachd run" running?`} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q does not say %q", errOut, want)
				}
			}
		})
	}
}

func TestAPIToken(t *testing.T) {
	p := startPair(t, "s3cret")
	tests := []struct {
		name string
		args []string
		env  string // REACHD_API_TOKEN
		code int
		want string // in stderr, or stdout when code is 0
	}{
		{"no token", []string{"status"}, "", 1, "the API wants a token: pass it with --api-token (or set REACHD_API_TOKEN)"},
		{"wrong token", []string{"status", "--api-token", "guess"}, "", 1, "the API refused the token: check --api-token"},
		{"flag", []string{"status", "--api-token", "s3cret"}, "", 0, "node         " + p.a.ID()},
		{"environment", []string{"status"}, "s3cret", 0, "node         " + p.a.ID()},
		{"flag beats environment", []string{"status", "--api-token", "s3cret"}, "guess", 0, "node         " + p.a.ID()},
		{"events and connect", []string{"connect", "--api-token", "s3cret", "--strategies", "direct", p.b.Address()}, "", 0, "direct: trying\ndirect: ok "},
		{"stream without token", []string{"nc", "--id", "cnone"}, "", 1, "the API wants a token"},
		{"stream with token", []string{"nc", "--id", "cnone", "--api-token", "s3cret"}, "", 1, `no connection "cnone" (HTTP 404)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("REACHD_API_TOKEN", tt.env)
			}
			code, out, errOut := reachd(t, nil, append(tt.args, "--api", p.apiA)...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; stdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			got := errOut
			if code == 0 {
				got = out
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("output %q does not contain %q", got, tt.want)
			}
		})
	}
}

// TestStatusPortmap: an interface's port mapping is a line of its own,
// with why it is not advertised.
func TestStatusPortmap(t *testing.T) {
	var info nodeStatus
	if err := json.Unmarshal([]byte(`{"interfaces": [
		{"name": "eth0", "ip": "10.1.0.2", "portmap": {"protocol": "pcp", "external": "203.0.113.11:40000", "confirmed": true}},
		{"name": "eth1", "ip": "10.9.0.2", "portmap": {"protocol": "upnp", "external": "192.168.1.2:40000", "confirmed": false, "reason": "external address 192.168.1.2 is not public"}},
		{"name": "eth2", "ip": "10.8.0.2"}]}`), &info); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeStatus(&b, "http://api", info, nil)
	for _, want := range []string{
		"    map  pcp 203.0.113.11:40000, confirmed\n",
		"    map  upnp 192.168.1.2:40000, not advertised: external address 192.168.1.2 is not public\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status:\n%s\nwant %q", b.String(), want)
		}
	}
	if n := strings.Count(b.String(), "map  "); n != 2 {
		t.Errorf("status:\n%s\nwant 2 mapping lines, got %d", b.String(), n)
	}
}
