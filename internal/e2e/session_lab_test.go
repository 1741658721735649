package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/internal/natlab"
)

// patienceStall is how long the patience test reads nothing.
var patienceStall = time.Minute

// sessionTransfer is what each side sends in the session lab tests.
const sessionTransfer = 64 << 20

// pathRecord is one entry of a connection's paths.
type pathRecord struct {
	Strategy   string    `json:"strategy"`
	RemoteAddr string    `json:"remote_addr"`
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
	Reason     string    `json:"reason"`
}

// sessionConn is the connection object with its path history.
type sessionConn struct {
	ID            string       `json:"id"`
	State         string       `json:"state"`
	Strategy      string       `json:"strategy"`
	Aborted       bool         `json:"aborted"`
	CloseReason   string       `json:"close_reason"`
	BytesReceived int64        `json:"bytes_received"`
	Paths         []pathRecord `json:"paths"`
}

func (n *labNode) conn(t testing.TB, id string) sessionConn {
	t.Helper()
	var c sessionConn
	if _, err := n.api.do("GET", "/v1/connections/"+id, "", &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// gaps words the path history and sums the time without a path.
func gaps(paths []pathRecord) (string, time.Duration) {
	var words []string
	var total time.Duration
	for i, p := range paths {
		w := p.Strategy
		if p.Reason != "" {
			w += " (" + p.Reason + ")"
		}
		words = append(words, w)
		if i > 0 && !paths[i-1].Until.IsZero() {
			total += max(0, p.Since.Sub(paths[i-1].Until))
		}
	}
	return strings.Join(words, " → "), total
}

// transferDuring sends sessionTransfer bytes each way over the
// connection (out on from, in on to) at rate, runs event once a quarter
// has arrived at to, and checks that both sides get exactly what the
// other sent. It returns the connection as from sees it afterwards.
func transferDuring(t *testing.T, from, to *labNode, out, in string, rate int, event func()) sessionConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	wsA, wsB := from.stream(ctx, t, out), to.stream(ctx, t, in)
	defer wsA.CloseNow()
	defer wsB.CloseNow()
	type result struct {
		sent, got [32]byte
		err       error
	}
	base := to.conn(t, in).BytesReceived
	resA, resB := make(chan result, 1), make(chan result, 1)
	go func() { s, g, err := pump(ctx, wsA, 1, sessionTransfer, rate); resA <- result{s, g, err} }()
	go func() { s, g, err := pump(ctx, wsB, 2, sessionTransfer, rate); resB <- result{s, g, err} }()
	waitFor(t, "a quarter of the transfer arrived", to.proc, time.Minute, func() (bool, error) {
		return to.conn(t, in).BytesReceived-base >= sessionTransfer/4, nil
	})
	event()
	a, b := <-resA, <-resB
	if a.err != nil || b.err != nil {
		t.Fatalf("transfer: %v / %v; connection %+v", a.err, b.err, from.conn(t, out))
	}
	if !bytes.Equal(a.sent[:], b.got[:]) || !bytes.Equal(b.sent[:], a.got[:]) {
		t.Fatalf("SHA-256 differ: a sent %x, b got %x; b sent %x, a got %x", a.sent, b.got, b.sent, a.got)
	}
	return from.conn(t, out)
}

// nftLoad loads an nftables ruleset in h's namespace.
func nftLoad(t *testing.T, h *natlab.Host, rules string) {
	t.Helper()
	cmd := h.Command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
}

// TestSessionMoves runs, between two nodes behind easy NATs, transfers of
// 64 MiB each way while the path under their connection changes, and
// checks each arrives intact (SHA-256) on the one connection:
//   - upgrade: the connection starts on the relay (the routers drop the
//     punch for the first seconds) and moves to a punched path;
//   - a NAT router's conntrack table is flushed;
//   - a NAT router's WAN address changes.
//
// It logs the path history and the time without a path.
func TestSessionMoves(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	ra, rb := lab.AddRouter(natlab.Easy), lab.AddRouter(natlab.Easy)
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{"a": ra.AddHost(), "b": rb.AddHost()})
	a, b := nodes["a"], nodes["b"]
	const rate = 8 << 20 // 8 s a transfer

	// Hold the punch back: router a drops what goes to or comes from
	// router b's WAN address (the relay, on the WAN services, passes).
	nftLoad(t, ra.Host(), fmt.Sprintf(`table ip holdpunch {
	chain forward {
		type filter hook forward priority filter - 2; policy accept;
		ip daddr %s drop
		ip saddr %s drop
	}
}
`, rb.WANIP(), rb.WANIP()))
	status, c := connect(t, a, b)
	if status != http.StatusCreated || c.Strategy != "relay" {
		t.Fatalf("connect with the punch held back: %d %s %s %+v", status, c.Strategy, c.Detail, c.Attempts)
	}
	in := b.inbound(t, a.info.NodeID, "relay")

	t.Run("upgrade", func(t *testing.T) {
		after := transferDuring(t, a, b, c.ID, in.ID, rate, func() {
			nftLoad(t, ra.Host(), "delete table ip holdpunch\n")
		})
		hist, gap := gaps(after.Paths)
		t.Logf("paths: %s; time without a path: %v", hist, gap)
		if len(after.Paths) < 2 || after.Paths[0].Strategy != "relay" || after.Strategy != "punch" {
			t.Errorf("paths %s, strategy %s: want relay, then punch", hist, after.Strategy)
		}
	})
	t.Run("conntrack flush", func(t *testing.T) {
		before := len(a.conn(t, c.ID).Paths)
		after := transferDuring(t, a, b, c.ID, in.ID, rate, func() {
			if err := ra.FlushConntrack(); err != nil {
				t.Fatal(err)
			}
		})
		hist, gap := gaps(after.Paths[before-1:])
		t.Logf("paths since the flush: %s; time without a path: %v", hist, gap)
		if after.State != "open" {
			t.Errorf("connection %+v, want open", after)
		}
	})
	t.Run("WAN address change", func(t *testing.T) {
		before := len(a.conn(t, c.ID).Paths)
		after := transferDuring(t, a, b, c.ID, in.ID, rate, func() {
			ip, err := ra.ChangeWANIP()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("router a's WAN address is now %s", ip)
		})
		hist, gap := gaps(after.Paths[before-1:])
		t.Logf("paths since the change: %s; time without a path: %v", hist, gap)
		if len(after.Paths) <= before || after.State != "open" {
			t.Errorf("paths %s, state %s: want a new path, open", hist, after.State)
		}
	})
	// Issue 11: a TCP connection inside a TAP link lives through a change
	// of the path beneath (the WAN address changes again).
	t.Run("TAP across a WAN address change", func(t *testing.T) {
		status, tc := connect(t, a, b)
		if status != http.StatusCreated {
			t.Fatalf("connect: %d %s", status, tc.Detail)
		}
		var tin connection
		waitFor(t, "b lists the TAP connection", b.proc, 10*time.Second, func() (bool, error) {
			var list struct {
				Connections []connection `json:"connections"`
			}
			_, err := b.api.do("GET", "/v1/connections", "", &list)
			for _, c := range list.Connections {
				if c.Direction == "inbound" && c.State == "open" && c.ID != in.ID {
					tin = c
					return true, nil
				}
			}
			return false, err
		})
		before := len(a.conn(t, tc.ID).Paths)
		attachTAPs(t, a, b, tc.ID, tin.ID, "10.99.9.1", "10.99.9.2")
		took := tcpAcrossDuring(t, a.host, b.host, "10.99.9.2", 64<<20, 8<<20, func() {
			if _, err := ra.ChangeWANIP(); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("64 MiB over the TAP link across the path change in %v", took.Round(time.Millisecond))
		after := a.conn(t, tc.ID)
		hist, gap := gaps(after.Paths[before-1:])
		t.Logf("paths under the TAP link: %s; time without a path: %v", hist, gap)
		if len(after.Paths) <= before {
			t.Errorf("paths %s: want a new path under the TAP link", hist)
		}
	})
}

// TestSessionSurvivesRelayRestart kills the TURN server under a relayed
// connection (two hard NATs: nothing else works) while 64 MiB flow each
// way, and starts it again: the connection resumes on a new relay
// allocation and both transfers arrive intact. It also checks patience:
// a receiver that reads nothing for a minute while its peer pushes 64 MiB
// loses nothing, and the connection is not aborted.
func TestSessionSurvivesRelayRestart(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	w := lab.WANAddrs()
	turnArgs := []string{"rendezvous",
		"--mqtt-listen", fmt.Sprintf("%s:1884", w[1]),
		"--stun-listen", fmt.Sprintf("%s:3482", w[1]),
		"--turn-listen", fmt.Sprintf("%s:3490", w[1]),
		"--turn-user", "lab:labpass",
		"--public-ip", w[1].String()}
	turn := lab.WAN().Start(t, reachdBin, turnArgs...)
	wan.TURN = fmt.Sprintf("turn://lab:labpass@%s:3490", w[1])
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"a": lab.AddRouter(natlab.Hard).AddHost(),
		"b": lab.AddRouter(natlab.Hard).AddHost(),
	})
	a, b := nodes["a"], nodes["b"]

	outer := t // the restarted server lives as long as the test
	t.Run("TURN restart", func(t *testing.T) {
		status, c := connect(t, a, b, "relay")
		if status != http.StatusCreated {
			t.Fatalf("connect: %d %s", status, c.Detail)
		}
		in := b.inbound(t, a.info.NodeID, "relay")
		after := transferDuring(t, a, b, c.ID, in.ID, 8<<20, func() {
			if err := syscall.Kill(turn.Pid(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-turn.Done()
			turn = lab.WAN().Start(outer, reachdBin, turnArgs...)
		})
		hist, gap := gaps(after.Paths)
		t.Logf("paths: %s; time without a path: %v", hist, gap)
		if len(after.Paths) < 2 || after.State != "open" {
			t.Errorf("paths %s, state %s: want a second relay path, open", hist, after.State)
		}
	})

	t.Run("patience", func(t *testing.T) {
		status, c := connect(t, a, b, "relay")
		if status != http.StatusCreated {
			t.Fatalf("connect: %d %s", status, c.Detail)
		}
		in := b.inbound(t, a.info.NodeID, "relay")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		ws := a.stream(ctx, t, c.ID)
		defer ws.CloseNow()
		sent := make(chan error, 1)
		h := sha256.New()
		go func() {
			src := rand.NewChaCha8([32]byte{3})
			buf := make([]byte, 256<<10)
			for off := 0; off < sessionTransfer; off += len(buf) {
				src.Read(buf)
				h.Write(buf)
				if err := ws.Write(ctx, websocket.MessageBinary, buf); err != nil {
					sent <- err
					return
				}
			}
			sent <- ws.Write(ctx, websocket.MessageBinary, nil) // the end of our side
		}()
		// Nobody reads on b for patienceStall; the sender waits.
		stall := time.NewTimer(patienceStall)
		select {
		case err := <-sent:
			t.Fatalf("the sender finished while nobody read: %v", err)
		case <-stall.C:
		}
		if got := a.conn(t, c.ID); got.State != "open" || got.Aborted {
			t.Fatalf("after %v of a receiver that reads nothing: %+v", patienceStall, got)
		}
		// Now read it all through GET /recv.
		r := sha256.New()
		total := 0
		for {
			status, body := recvOnce(t, b, in.ID)
			if status == http.StatusGone {
				break
			}
			if status != http.StatusOK && status != http.StatusNoContent {
				t.Fatalf("recv after %d bytes: %d %s", total, status, body)
			}
			r.Write(body)
			total += len(body)
		}
		if err := <-sent; err != nil {
			t.Fatalf("send: %v", err)
		}
		if total != sessionTransfer || !bytes.Equal(r.Sum(nil), h.Sum(nil)) {
			t.Fatalf("received %d bytes (SHA-256 %x), want %d (%x)", total, r.Sum(nil), sessionTransfer, h.Sum(nil))
		}
		t.Logf("after %v unread, %d MiB arrived intact", patienceStall, total>>20)
	})
}

// recvOnce is one GET /recv of up to 1 MiB.
func recvOnce(t *testing.T, n *labNode, id string) (int, []byte) {
	t.Helper()
	resp, err := n.api.http.Get(n.api.base + "/v1/connections/" + id + "/recv?max=1048576&timeout_ms=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}
