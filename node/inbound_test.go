package node_test

import (
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// The listener refuses what is not a reachd peer connection, speaks
// another version, or names a session nobody waits for: it answers a
// reachd dialer why, closes the connection and lists nothing.
func TestListenerRefusesStrangers(t *testing.T) {
	rv := rendezvoustest.Start(t)
	n := nodetest.Start(t, rv)
	session := make([]byte, 16)
	rand.Read(session)
	stranger := nodetest.Start(t, rv).ID()
	for _, tt := range []struct {
		name   string
		send   []byte
		answer string
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ""},
		{"version 2", append([]byte("RCHD\x02"), session...), "V"},
		{"bad version", append([]byte("RCHD\x09"), make([]byte, 16)...), "V"},
		{"unknown session", append(append([]byte("RCHD\x03"), session...), stranger...), "S"},
		{"bad node id", append(append([]byte("RCHD\x03"), session...), make([]byte, 52)...), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(n.Info().ListenPort))))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(tt.send)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			// The answer, then closed (EOF), or reset when it left bytes
			// unread.
			if b, err := io.ReadAll(c); string(b) != tt.answer || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
				t.Errorf("read %q, %v; want %q and the node to close the connection", b, err, tt.answer)
			}
			if conns := n.Conns(); len(conns) != 0 {
				t.Errorf("the node lists %d connections", len(conns))
			}
		})
	}
}

// Silent connections hold a handshake slot until their preamble is late;
// beyond the limit the oldest of them is closed at once to make room,
// instead of piling them up or shutting the door on the newcomer.
func TestListenerBoundsHandshakes(t *testing.T) {
	rv := rendezvoustest.Start(t)
	// All from one IP: lift the per-IP and per-prefix bounds to reach the
	// global one.
	n := nodetest.Start(t, rv, withConfig(func(c *node.Config) {
		c.Limits.MaxHandshakesPerIP = 1000
		c.Limits.MaxHandshakesPerPrefix = 1000
	}))
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(n.Info().ListenPort)))
	var silent []net.Conn
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	const limit = 128 // node.maxHandshakes
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	// The oldest is closed for the newcomer (or, on a slow machine, for
	// its silence: either way it is counted).
	silent[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := silent[0].Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("oldest silent connection: %v, want it closed", err)
	}
	if got := n.Metrics().Refused[node.RefusedSilent]; got < 1 {
		t.Errorf("%d connections closed for silence, want at least 1", got)
	}
}
