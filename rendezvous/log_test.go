package rendezvous_test

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/internal/logthrottle"
	"github.com/reachd/reachd/internal/syncbuf"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// mochi's and pion's logs arrive in the configured slog logger, tagged with
// their component.
func TestLogsRouted(t *testing.T) {
	var out syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := rendezvoustest.Start(t, rendezvoustest.WithLogger(log))
	checkBinding(t, "udp", s.TURNAddr()) // pion logs each request at debug level
	connectMQTT(t, rendezvoustest.MQTTURL(s), "log")

	logs := out.String()
	for _, want := range []string{
		`msg="mochi mqtt starting" component=mqtt`,                          // mochi's
		`msg="Received BindingRequest from 127.0.0.1:`,                      // pion's,
		`component=turn scope=turn`,                                         // tagged
		`msg="turn listening" component=turn addr=` + s.TURNAddr().String(), // ours
		`msg="stun listening" component=stun`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

// A stranger can spoof any number of malformed STUN packets from any source.
// pion's TURN server logs an error for each Binding request carrying an
// unknown comprehension-required attribute; before, that was one ERROR line
// per packet. Now a few lines get through, then one a second with a count.
func TestSpoofedMalformedSTUNFloodLogsBounded(t *testing.T) {
	var out syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := rendezvoustest.Start(t, rendezvoustest.WithLogger(log))

	// A Binding request with attribute 0x002f (comprehension-required,
	// unknown) of 4 bytes.
	bad := []byte{
		0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42,
		1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
		0x00, 0x2f, 0x00, 0x04, 1, 2, 3, 4,
	}
	const flood = 300
	for _, addr := range append(s.STUNAddrs(), s.TURNAddr()) {
		c, err := net.Dial("udp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		for range flood {
			if _, err := c.Write(bad); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("not stun at all, not even close")); err != nil {
				t.Fatal(err)
			}
		}
		// Each server reads its socket in order: once it answers a good
		// request, it has seen the flood (what the kernel did not drop;
		// it may drop the good request too, hence the retries).
		if !answered(c) {
			t.Fatalf("%s: no answer to a good request after the flood", addr)
		}
		c.Close()
	}
	logs := out.String()
	if n := strings.Count(logs, "level=ERROR") + strings.Count(logs, "level=WARN"); n > logthrottle.DefaultBurst+1 {
		t.Errorf("%d error and warning lines for %d malformed packets, want at most %d:\n%s", n, 2*flood, logthrottle.DefaultBurst+1, logs)
	}
	if !strings.Contains(logs, "unknown comprehension-required attributes") {
		t.Errorf("the malformed requests were not logged at all:\n%s", logs)
	}
}

// answered sends Binding requests on c until one is answered, up to 20 times.
func answered(c net.Conn) bool {
	buf := make([]byte, 1500)
	for range 20 {
		req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		if _, err := c.Write(req.Raw); err != nil {
			return false
		}
		_ = c.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
		for {
			n, err := c.Read(buf)
			if err != nil {
				break // timed out: ask again
			}
			resp := &stun.Message{Raw: buf[:n]}
			if resp.Decode() == nil && resp.TransactionID == req.TransactionID {
				return true
			}
		}
	}
	return false
}
