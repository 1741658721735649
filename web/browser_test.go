package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/network"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/server"
	"github.com/reachd/reachd/service"
)

// waitFor bounds each wait on a condition in the page.
const waitFor = 20 * time.Second

// TestDashboard drives node A's dashboard in headless Chromium: it shows the
// node, refuses a bad address with the problem's detail, lists each
// strategy's failure, connects to node B live (no reload), follows the byte
// counters from the event stream and closes the connection on both nodes.
func TestDashboard(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	apiA := startAPI(t, server.Config{Node: a})
	apiB := startAPI(t, server.Config{Node: b})
	br := newBrowser(t)

	br.do(chromedp.Navigate("http://" + apiA.Addr() + "/"))
	br.waitJS("the node ID is shown", `document.getElementById("node-id").textContent === %s`, a.ID())
	br.waitJS("the address is shown", `document.getElementById("node-address").textContent === %s`, a.Address())
	info := a.Info()
	if len(info.Interfaces) == 0 {
		t.Fatal("node A has no probed interface")
	}
	for _, ifc := range info.Interfaces {
		for proto, r := range map[string]any{"tcp": ifc.TCP.NAT, "udp": ifc.UDP.NAT} {
			nat := fmt.Sprint(r)
			sel := fmt.Sprintf(`#iface-table tbody[data-ip=%q] td[data-proto=%q]`, ifc.IP.String(), proto)
			got := br.text(sel)
			if want := strings.ReplaceAll(nat, "_", " "); !strings.HasPrefix(strings.ToLower(got), strings.ToLower(want)) {
				t.Errorf("%s %s NAT: page shows %q, want %q", ifc.IP, proto, got, want)
			}
		}
	}
	br.waitJS("the broker is shown connected", `document.querySelector('#broker-rows td[data-connected="true"]') !== null`)
	br.waitJS("the inbound policy is shown", `document.querySelector('#node-policy [data-accept="any"]') !== null`)
	if _, err := a.AllowPeer(b.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetAccept(node.AcceptAllowlist); err != nil {
		t.Fatal(err)
	}
	br.waitJS("a policy change shows live", `document.querySelector('#node-policy [data-accept="allowlist"]') !== null &&
		document.getElementById("node-policy").textContent.includes("1 node allowed")`)
	br.eval(`window.reachdTestMarker = "not reloaded"`)
	noNull := func(t *testing.T) {
		t.Helper()
		if text := br.pageText(); strings.Contains(text, "null") || strings.Contains(text, "undefined") {
			t.Errorf("the page shows null or undefined:\n%s", text)
		}
	}
	noNull(t)

	t.Run("policy from the page", func(t *testing.T) {
		br := br.on(t)
		br.waitJS("the editor shows the allow list", `document.querySelector('#policy-form input[value="allowlist"]').checked &&
			document.querySelector('#allow-list li[data-id=%s]') !== null`, b.ID())
		pub, _, _ := ed25519.GenerateKey(nil)
		other := identity.NodeIDFromKey(pub)
		br.do(chromedp.SendKeys(chromedp.CSS("#allow-id"), other), chromedp.Click(chromedp.CSS("#allow-submit")))
		br.waitJS("the new ID is listed", `document.querySelector('#allow-list li[data-id=%s]') !== null`, other)
		if p := a.Policy(); !slices.Contains(p.Allow, other) {
			t.Errorf("node A's allow list %v lacks %s", p.Allow, other)
		}
		br.do(chromedp.Click(chromedp.CSS(`#allow-list li[data-id="` + other + `"] button`)))
		br.waitJS("the ID is gone", `document.querySelector('#allow-list li[data-id=%s]') === null`, other)
		if p := a.Policy(); slices.Contains(p.Allow, other) || !slices.Contains(p.Allow, b.ID()) {
			t.Errorf("node A's allow list %v after the removal", p.Allow)
		}
		br.do(chromedp.Click(chromedp.CSS(`#policy-form input[value="any"]`)))
		br.waitJS("any peer is shown", `document.querySelector('#node-policy [data-accept="any"]') !== null`)
		if p := a.Policy(); p.Accept != node.AcceptAny {
			t.Errorf("node A accepts %q, want any", p.Accept)
		}
		if got := br.text("#policy-msg"); got != "" {
			t.Errorf("policy message %q", got)
		}
	})

	t.Run("bad address", func(t *testing.T) {
		br := br.on(t)
		const bad = "0-[1,0,192.0.2.1]-0-nodeid-machine"
		detail := problemDetail(t, apiA, bad)
		br.setAddress(bad)
		br.do(chromedp.Click(chromedp.CSS("#connect-submit")))
		br.waitJS("the 400 is explained", `document.getElementById("connect-msg").textContent.includes(%s)`, detail)
		if got := br.text("#connect-msg"); !strings.HasPrefix(got, "Bad request: ") {
			t.Errorf("message %q, want it to start with %q", got, "Bad request: ")
		}
	})

	t.Run("no strategy connects", func(t *testing.T) {
		br := br.on(t)
		// direct fails at once (nothing listens); reverse waits for a
		// connect-back that never comes, until its timeout: while the
		// request is still pending, the page must already show direct's
		// failure and reverse trying, from the event stream.
		br.setAddress(unreachableAddress(t))
		br.setStrategies("direct", "reverse")
		defer br.setStrategies(node.DefaultStrategies...)
		br.do(chromedp.Click(chromedp.CSS("#connect-submit")))
		br.waitJS("progress shows while the request runs", `document.getElementById("connect-submit").disabled &&
			document.querySelector('#attempts li[data-strategy="direct"]').dataset.outcome === "failed" &&
			document.querySelector('#attempts li[data-strategy="reverse"]').dataset.outcome === "trying"`)
		if got := br.text(`#attempts li[data-strategy="direct"] .reason`); got == "" {
			t.Error("the failed direct attempt shows no reason")
		}
		br.waitJS("reverse failed", `document.querySelector('#attempts li[data-strategy="reverse"]').dataset.outcome === "failed"`)
		br.waitJS("the failure is said", `document.getElementById("connect-msg").textContent.startsWith("No strategy connected")`)
		if got := br.text(`#attempts li[data-strategy="reverse"] .reason`); !strings.Contains(got, "timed out") {
			t.Errorf("reverse reason %q, want a timeout", got)
		}
		// One line says why; the reasons are the timeline's, not repeated.
		msg := br.text("#connect-msg")
		direct, reverse := br.text(`#attempts li[data-strategy="direct"] .reason`), br.text(`#attempts li[data-strategy="reverse"] .reason`)
		if strings.Contains(msg, "\n") || strings.Contains(msg, direct) && strings.Contains(msg, reverse) {
			t.Errorf("verdict %q repeats the attempts' reasons (%q, %q)", msg, direct, reverse)
		}
		if br.eval(`document.getElementById("connect-msg").compareDocumentPosition(document.getElementById("attempts")) & Node.DOCUMENT_POSITION_FOLLOWING`) == "0" {
			t.Error("the timeline is not beneath the verdict")
		}
		if n := br.count(`#attempts li`); n != 2 {
			t.Errorf("%d attempts listed, want direct and reverse", n)
		}
	})

	var connID string
	t.Run("connect", func(t *testing.T) {
		br := br.on(t)
		br.setAddress(b.Address())
		br.do(chromedp.Click(chromedp.CSS("#connect-submit")))
		br.waitJS("the connection is listed", `document.querySelector('#conn-rows tr[data-state="open"][data-strategy="direct"]') !== null`)
		connID = br.attr(`#conn-rows tr[data-state="open"]`, "data-id")
		c, ok := a.Conn(connID)
		if !ok {
			t.Fatalf("the table lists connection %q, node A does not know it", connID)
		}
		if ci := c.Info(); ci.PeerID != b.ID() || ci.Strategy != node.StrategyDirect || ci.Direction != node.Outbound {
			t.Errorf("node A's connection: peer %s strategy %s direction %s, want %s direct outbound", ci.PeerID, ci.Strategy, ci.Direction, b.ID())
		}
		if got := br.attr(`#conn-rows tr[data-id="`+connID+`"] .c-peer code`, "title"); got != b.ID() {
			t.Errorf("peer column %q, want %q", got, b.ID())
		}
		if got := br.text(`#conn-rows tr[data-id="` + connID + `"] .c-id code`); got != connID {
			t.Errorf("ID column %q, want %q", got, connID)
		}
		if br.count(`#conn-rows tr[data-id="`+connID+`"] .c-id button.copy`) != 1 {
			t.Error("no copy button by the connection ID")
		}
		if got := br.eval(`window.reachdTestMarker`); got != "not reloaded" {
			t.Errorf("the page reloaded (marker %q)", got)
		}
		// The race: direct connected (with its time), the others were
		// cancelled, or not needed.
		if got := br.text(`#attempts li[data-strategy="direct"][data-outcome="ok"] .ms`); !strings.HasSuffix(got, " ms") {
			t.Errorf("direct attempt time %q, want a number of ms", got)
		}
		for _, s := range []string{"reverse", "punch", "relay"} {
			if got := br.attr(`#attempts li[data-strategy="`+s+`"]`, "data-outcome"); got != "cancelled" && got != "skipped" && got != "unneeded" {
				t.Errorf("%s attempt outcome %q, want cancelled, skipped or unneeded", s, got)
			}
		}
		br.waitJS("success is said", `document.getElementById("connect-msg").textContent.includes("by direct")`)
	})
	if connID == "" {
		t.Fatal("no connection to go on with")
	}

	t.Run("byte counters follow events", func(t *testing.T) {
		br := br.on(t)
		const n = 5000
		resp, err := http.Post("http://"+apiA.Addr()+"/v1/connections/"+connID+"/send", "application/octet-stream", bytes.NewReader(make([]byte, n)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("send: status %d", resp.StatusCode)
		}
		br.waitJS("the sent counter is updated", `document.querySelector('#conn-rows tr[data-id=%s] .c-sent').title === "5000 bytes"`, connID)
		br.waitJS("a rate shows", `Number(document.querySelector('#conn-rows tr[data-id=%s] .c-rate').dataset.rate) > 0`, connID)
		if got := br.text(`#conn-rows tr[data-id="` + connID + `"] .c-rate`); !strings.Contains(got, "/s") {
			t.Errorf("rate column %q", got)
		}
		br.waitJS("the rate falls back to nothing", `document.querySelector('#conn-rows tr[data-id=%s] .c-rate').dataset.rate === "0"`, connID)
		if got := br.text(`#conn-rows tr[data-id="` + connID + `"] .c-sent`); got != "4.9 KiB" {
			t.Errorf("sent column %q, want 4.9 KiB", got)
		}
	})

	t.Run("tap shows live", func(t *testing.T) {
		if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
			t.Skip("TAP devices need root")
		}
		br := br.on(t)
		c, _ := a.Conn(connID)
		if _, err := a.AttachTAP(c, node.TAPConfig{IP: netip.MustParsePrefix("10.99.9.1/24"), Name: "reachweb0"}); err != nil {
			t.Fatal(err)
		}
		br.waitJS("the row shows the TAP device", `document.querySelector('#conn-rows tr[data-id=%s] [data-tap="reachweb0"]') !== null`, connID)
		if got := br.text(`#conn-rows tr[data-id="` + connID + `"] [data-tap]`); !strings.Contains(got, "10.99.9.1/24") {
			t.Errorf("TAP cell %q, want its address", got)
		}
	})

	t.Run("services and forwards show live", func(t *testing.T) {
		br := br.on(t)
		if _, _, err := a.PutService(service.Service{Name: "ssh", Target: "22", Allow: []string{"any"}}); err != nil {
			t.Fatal(err)
		}
		br.waitJS("the service is listed", `document.querySelector('#svc-rows tr[data-name="ssh"]') !== null`)
		f, err := a.AddForward(service.Forward{Peer: b.Address(), Service: "web"})
		if err != nil {
			t.Fatal(err)
		}
		br.waitJS("the forward is listed", `document.querySelector('#fwd-rows tr[data-id=%s]') !== null`, f.ID)
		if got := br.text(`#fwd-rows tr[data-id="` + f.ID + `"]`); !strings.Contains(got, f.Listen) || !strings.Contains(got, "/web") {
			t.Errorf("forward row %q, want its listen address and service", got)
		}
		if got := br.text(`#conn-rows tr[data-id="` + connID + `"] [data-conn-id]`); got != connID {
			t.Errorf("connection row shows ID %q, want %s", got, connID)
		}
		if err := a.RemoveForward(f.ID); err != nil {
			t.Fatal(err)
		}
		br.waitJS("the forward is gone", `document.querySelector('#fwd-rows tr') === null`)
	})

	t.Logf("screenshot: %s", br.screenshot("dashboard.png"))
	br.colorScheme("dark")
	t.Logf("screenshot: %s", br.screenshot("dashboard-dark.png"))
	br.colorScheme("")

	t.Run("close", func(t *testing.T) {
		br := br.on(t)
		br.do(chromedp.Click(chromedp.CSS(`#conn-rows tr[data-id="` + connID + `"] .c-actions button`)))
		br.waitJS("the row shows closed", `document.querySelector('#conn-rows tr[data-id=%s]').dataset.state === "closed"`, connID)
		if br.count(`#conn-rows tr[data-id="`+connID+`"] .c-actions button`) != 0 {
			t.Error("a closed connection still has a close button")
		}
		t.Logf("screenshot: %s", br.screenshot("dashboard-closed.png"))
		if c, _ := a.Conn(connID); c.Info().State != node.StateClosed {
			t.Errorf("node A: connection %s is %s, want closed", connID, c.Info().State)
		}
		waitUntil(t, "node B closes its side", func() bool {
			var found bool
			for _, c := range b.Conns() {
				ci := c.Info()
				if ci.PeerID == a.ID() && ci.Direction == node.Inbound {
					found = true
					if ci.State != node.StateClosed {
						return false
					}
				}
			}
			return found
		})
		// B's API says the same.
		var list struct{ Connections []node.ConnInfo }
		getJSON(t, "http://"+apiB.Addr()+"/v1/connections", &list)
		for _, ci := range list.Connections {
			if ci.PeerID == a.ID() && ci.State != node.StateClosed {
				t.Errorf("node B's API: connection %s is %s, want closed", ci.ID, ci.State)
			}
		}
	})
	t.Run("networks", func(t *testing.T) {
		br := br.on(t)
		if os.Geteuid() != 0 {
			if os.Getenv("CI") == "true" {
				t.Fatal("TAP devices need root")
			}
			t.Skip("TAP devices need root")
		}
		br.waitJS("no network is shown", `!document.getElementById("net-empty").hidden`)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		const secret = "correct horse battery staple"
		// B is in the network; A joins it from the page, with an automatic
		// address: it settles in B's subnet (both devices are on this host,
		// which A logs).
		if _, err := b.JoinNetwork(ctx, network.JoinConfig{Name: "webtest", Secret: secret, IP: "10.95.0.2/24"}); err != nil {
			t.Fatal(err)
		}
		defer b.LeaveNetwork(context.Background(), "webtest")
		join := func(name, secret, ip string) {
			t.Helper()
			for id, v := range map[string]string{"net-name": name, "net-secret": secret, "net-ip": ip} {
				br.eval(`document.getElementById("` + id + `").value = ""`)
				br.do(chromedp.SendKeys(chromedp.CSS("#"+id), v))
			}
			br.do(chromedp.Click(chromedp.CSS("#net-submit")))
		}
		join("webtest", secret, "auto")
		defer a.LeaveNetwork(context.Background(), "webtest")
		br.waitJS("the join is said", `document.getElementById("net-msg").textContent.startsWith("Joined webtest as 10.95.0.")`)
		br.waitJS("the network shows joined, with B's link up", `document.querySelector('.network[data-name="webtest"][data-state="joined"] tr[data-node=%s][data-link="up"]') !== null`, b.ID())
		if got := br.text(`.network[data-name="webtest"] tr td:nth-child(2)`); got != "10.95.0.2/24" {
			t.Errorf("member IP cell %q", got)
		}
		info, err := a.Network("webtest")
		if err != nil || info.State != network.StateJoined || !strings.HasPrefix(info.IP, "10.95.0.") || len(info.Members) != 1 {
			t.Errorf("node A's network: %+v %v", info, err)
		}
		t.Logf("screenshot: %s", br.screenshot("dashboard-networks.png"))

		// A configured address over the route of webtest's subnet: the
		// page says which route.
		join("other", secret, "10.95.0.9/24")
		br.waitJS("the refusal is said", `document.getElementById("net-msg").textContent.includes("overlaps the route 10.95.0.0/24")`)
		t.Logf("refused: %s", br.text("#net-msg"))

		// Leave from the page.
		br.do(chromedp.Click(chromedp.CSS(`.network[data-name="webtest"] h3 button`)))
		br.waitJS("no network is shown again", `!document.getElementById("net-empty").hidden && document.querySelector('.network[data-name="webtest"]') === null`)
		if nets := a.Networks(); len(nets) != 0 {
			t.Errorf("node A still in %d networks", len(nets))
		}
		noNull(t)

	})
	if got := br.eval(`window.reachdTestMarker`); got != "not reloaded" {
		t.Errorf("the page reloaded (marker %q)", got)
	}
}

// TestDashboardToken checks that a dashboard without the API token asks for
// it, says so when a wrong one is given, and shows the node with the right
// one (fetch with the Bearer header, the event stream with access_token).
func TestDashboardToken(t *testing.T) {
	const token = "correct horse battery staple"
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	url := "http://" + startAPI(t, server.Config{Node: a, Token: token}).Addr() + "/"
	br := newBrowser(t)

	br.do(chromedp.Navigate(url))
	br.do(chromedp.WaitVisible(chromedp.CSS("#auth-token")))
	if got := br.text("#node-id"); got != "" {
		t.Fatalf("node ID %q shown without a token", got)
	}
	if got := br.attr("#live", "data-state"); got != "locked" {
		t.Errorf("status %q, want locked", got)
	}
	t.Logf("screenshot: %s", br.screenshot("dashboard-token.png"))

	br.do(chromedp.SendKeys(chromedp.CSS("#auth-token"), "wrong"), chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)))
	br.waitJS("a wrong token is refused", `document.getElementById("auth-msg").textContent.includes("refused")`)
	br.do(chromedp.WaitVisible(chromedp.CSS("#auth-token")))

	br.do(chromedp.SendKeys(chromedp.CSS("#auth-token"), token), chromedp.Click(chromedp.CSS(`#auth-form button[type="submit"]`)))
	br.waitJS("the node ID appears", `document.getElementById("node-id").textContent === %s`, a.ID())
	br.waitJS("the event stream is live", `document.getElementById("live").dataset.state === "live"`)
	if got := br.eval(`sessionStorage.getItem("reachd.apiToken")`); got != token {
		t.Errorf("sessionStorage token %q, want %q", got, token)
	}
	if !br.visible("#dash") || br.visible("#auth") {
		t.Error("after the token: want the dashboard shown and the token form hidden")
	}
}

// TestDashboardResume restarts node A's API under an open dashboard. The
// page must catch up without a reload: when it had seen no event yet, by
// loading the state again; when it had, by the events the browser resumes
// with Last-Event-ID; and when another daemon answers at the address (a
// restart), by loading that node's state.
func TestDashboardResume(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	api := startAPI(t, server.Config{Node: a})
	addr := api.Addr()
	br := newBrowser(t)
	peerA, err := address.Parse(a.Address())
	if err != nil {
		t.Fatal(err)
	}
	connectBtoA := func() *node.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		c, err := b.Connect(ctx, peerA, []string{node.StrategyDirect})
		if err != nil {
			t.Fatalf("B connects to A: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// restart closes the API and opens it again at the same address for n,
	// calling during while it is down.
	restart := func(n *node.Node, during func()) {
		t.Helper()
		api.Close()
		br.waitJS("the page sees the stream drop", `document.getElementById("live").dataset.state === "reconnecting"`)
		during()
		api = startAPI(t, server.Config{Addr: addr, Node: n})
		br.waitJS("the stream is live again", `document.getElementById("live").dataset.state === "live"`)
	}
	inboundRows := `document.querySelectorAll('#conn-rows tr[data-state="open"] .c-direction').values().filter(td => td.textContent.includes("inbound")).toArray().length`

	br.do(chromedp.Navigate("http://" + addr + "/"))
	br.waitJS("the node is shown", `document.getElementById("live").dataset.state === "live" &&
		document.getElementById("node-id").textContent === %s`, a.ID())
	br.eval(`window.reachdTestMarker = "not reloaded"`)

	// No event seen yet: nothing to resume from.
	var c1 *node.Conn
	restart(a, func() { c1 = connectBtoA() })
	br.waitJS("the connection made while down is listed", inboundRows+` === 1`)

	// An event seen (bytes): the browser resumes after it.
	if _, err := c1.Write(make([]byte, 3000)); err != nil {
		t.Fatal(err)
	}
	br.waitJS("the received counter is updated", `document.querySelector('#conn-rows tr[data-state="open"] .c-received').title === "3000 bytes"`)
	restart(a, func() { connectBtoA() })
	br.waitJS("the connection made while down is listed", inboundRows+` === 2`)

	// Another daemon at the address.
	restart(b, func() {})
	br.waitJS("the new node's state is loaded", `document.getElementById("node-id").textContent === %s`, b.ID())
	br.waitJS("its connections are listed", `document.querySelectorAll('#conn-rows tr[data-state="open"]').length === 2 && `+inboundRows+` === 0`)

	if got := br.eval(`window.reachdTestMarker`); got != "not reloaded" {
		t.Errorf("the page reloaded (marker %q)", got)
	}
}

func startAPI(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// problemDetail is the detail of the problem the API answers for a connect
// to addr (which must be refused).
func problemDetail(t *testing.T, api *server.Server, addr string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"address": addr})
	resp, err := http.Post("http://"+api.Addr()+"/v1/connections", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct{ Detail string }
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != http.StatusBadRequest || p.Detail == "" {
		t.Fatalf("connect to %q: status %d, detail %q, err %v; want a 400 problem", addr, resp.StatusCode, p.Detail, err)
	}
	return p.Detail
}

// unreachableAddress is a valid peer address of a node that does not exist,
// listening on a loopback port where nothing listens: direct fails at once.
func unreachableAddress(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	lo := netip.MustParseAddr("127.0.0.1")
	addr := address.Address{
		SignalOffsets: []int{0},
		IPv4: []address.Interface{{NetIfIndex: 1, ExternalIP: lo, InternalIP: lo, ListenPort: port,
			NAT: address.NATOpen, Delta: address.DeltaEqual}},
		NodeID:    identity.NodeIDFromKey(pub),
		MachineID: "0123456789abcdef",
	}
	if err := addr.Validate(); err != nil {
		t.Fatal(err)
	}
	return addr.String()
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// waitUntil polls a condition outside the browser until it holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-tick.C
	}
}

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// chromiumPath finds Chromium; without it the test skips, or fails in CI.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found, and CI=true: the browser tier must run in CI")
	}
	t.Skip("chromium not found: install it (apt-get install chromium) to run the browser tests")
	return ""
}

// newBrowser starts Chromium with a fresh profile. Console messages are
// logged; an uncaught exception in the page fails the test.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	messages := chromedp.Console(ctx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var exceptions []string
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			t.Logf("browser console: %s", m)
			if m.IsException() {
				mu.Lock()
				exceptions = append(exceptions, m.String())
				mu.Unlock()
			}
		}
	})
	t.Cleanup(func() {
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("close chromium: %v", err)
		}
		cancel()
		cancelAlloc()
		wg.Wait()
		for _, e := range exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	return &browser{t: t, ctx: ctx}
}

// on is the same tab, failing t (a subtest) when an action fails.
func (b *browser) on(t *testing.T) *browser { return &browser{t: t, ctx: b.ctx} }

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v\npage:\n%s", err, b.pageText())
	}
}

// waitJS waits until a JavaScript condition holds; args are Go strings
// quoted into format as JavaScript string literals.
func (b *browser) waitJS(what, format string, args ...string) {
	b.t.Helper()
	quoted := make([]any, len(args))
	for i, a := range args {
		q, _ := json.Marshal(a)
		quoted[i] = string(q)
	}
	expr := fmt.Sprintf(format, quoted...)
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(waitFor)))
	if err != nil {
		b.t.Fatalf("waiting until %s (%s): %v\npage:\n%s", what, expr, err, b.pageText())
	}
}

// eval evaluates a JavaScript expression whose value is a string (or
// undefined, read as "").
func (b *browser) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`String(`+expr+` ?? "")`))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *browser) jsSelector(sel string) string {
	q, _ := json.Marshal(sel)
	return string(q)
}

// text is an element's textContent, trimmed; "" when it is missing.
func (b *browser) text(sel string) string {
	return strings.TrimSpace(b.eval(`document.querySelector(` + b.jsSelector(sel) + `)?.textContent`))
}

func (b *browser) attr(sel, name string) string {
	return b.eval(`document.querySelector(` + b.jsSelector(sel) + `)?.getAttribute(` + b.jsSelector(name) + `)`)
}

func (b *browser) count(sel string) int {
	var n int
	fmt.Sscan(b.eval(`document.querySelectorAll(`+b.jsSelector(sel)+`).length`), &n)
	return n
}

func (b *browser) visible(sel string) bool {
	return b.eval(`(e => e !== null && e.offsetParent !== null)(document.querySelector(`+b.jsSelector(sel)+`))`) == "true"
}

// setAddress types addr into the connect form's address field.
func (b *browser) setAddress(addr string) {
	b.t.Helper()
	b.eval(`document.getElementById("peer-address").value = ""`)
	b.do(chromedp.SendKeys(chromedp.CSS("#peer-address"), addr))
}

// setStrategies ticks exactly the given strategies in the connect form.
func (b *browser) setStrategies(want ...string) {
	b.t.Helper()
	for _, s := range node.DefaultStrategies {
		sel := `#connect-form input[name="strategy"][value="` + s + `"]`
		checked := b.eval(`document.querySelector(`+b.jsSelector(sel)+`).checked`) == "true"
		if checked != slices.Contains(want, s) {
			b.do(chromedp.Click(chromedp.CSS(sel)))
		}
	}
}

func (b *browser) pageText() string {
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return fmt.Sprintf("(page text: %v)", err)
	}
	return v
}

// screenshot saves a full-page PNG in the artifacts directory and returns
// its path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	dir := artifactsDir(b.t)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	return path
}

// colorScheme emulates prefers-color-scheme ("light", "dark"; "" for the
// browser's own).
func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	p := emulation.SetEmulatedMediaParams{}
	if scheme != "" {
		p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, p); err != nil {
		b.t.Fatalf("emulate %s color scheme: %v", scheme, err)
	}
}

// artifactsDir is $REACHD_ARTIFACTS, or artifacts/ at the repository root.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("REACHD_ARTIFACTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		root := wd
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				t.Fatalf("no go.mod above %s", wd)
			}
			root = parent
		}
		dir = filepath.Join(root, "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
