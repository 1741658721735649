package server

import (
	"crypto/ed25519"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/openapi/openapitest"
)

var sampleLine = regexp.MustCompile(`^[a-z_]+(\{([a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*)\})? [0-9.e+-]+$`)

func TestMetrics(t *testing.T) {
	p := startPair(t)
	status, conn, _ := call(t, "POST", p.apiA+"/v1/connections", `{"address":"`+p.b.Address()+`","strategies":["direct"]}`)
	if status != 201 {
		t.Fatalf("connect: %d %v", status, conn)
	}
	sendData(t, p.apiA, conn["id"].(string), "12345")
	pub, _, _ := ed25519.GenerateKey(nil)
	forged, _ := address.Parse(p.b.Address())
	forged.NodeID = identity.NodeIDFromKey(pub)
	if status, _, _ := call(t, "POST", p.apiA+"/v1/connections", `{"address":"`+forged.String()+`","strategies":["direct"]}`); status != 502 {
		t.Fatalf("forged connect: %d", status)
	}

	resp, err := openapitest.Client(t).Get(p.apiA + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	text := string(body)
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !strings.HasPrefix(line, "#") && !sampleLine.MatchString(line) {
			t.Errorf("not a Prometheus sample: %q", line)
		}
	}
	for _, want := range []string{
		"reachd_ready 1",
		`reachd_connections{strategy="direct",direction="outbound",state="open"} 1`,
		`reachd_connections_opened_total{strategy="direct",direction="outbound"} 1`,
		`reachd_connect_attempts_total{strategy="direct",outcome="ok"} 1`,
		`reachd_connect_attempts_total{strategy="direct",outcome="failed"} 1`,
		`reachd_connect_failures_total{strategy="direct",reason="wrong_peer"} 1`,
		`reachd_connect_step_ms_count{strategy="direct",step="committed"} 1`,
		`reachd_connect_step_ms_count{strategy="direct",step="tls_done"} 1`,
		`reachd_broker_up{broker="` + rendezvousURL(t, p) + `"} 1`,
		"reachd_bytes_sent_total 5",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
}

func rendezvousURL(t *testing.T, p pair) string {
	return p.a.Info().Brokers[0].URL
}
