package server

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/acceptor/acceptortest"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

const rlimitChildEnv = "SERVER_RLIMIT_CHILD"

// TestAcceptLoopUnderRLIMITNOFILE is the full-file-table attack on a node:
// API and peer connections arrive while the process has no descriptor
// left. Before, the peer listener logged every failed accept (millions of
// lines) and the API stopped answering; now both back off, log about once
// a second, and answer once descriptors are free. The node runs in a
// child process whose RLIMIT_NOFILE is lowered and filled.
func TestAcceptLoopUnderRLIMITNOFILE(t *testing.T) {
	if acceptortest.IsChild(rlimitChildEnv) {
		rlimitChild(t)
		return
	}
	child := acceptortest.StartChild(t, "TestAcceptLoopUnderRLIMITNOFILE", rlimitChildEnv)
	var api, peer string
	child.Scan("FULL ", &api, &peer)
	// Connections complete in the child's backlog; their requests wait.
	var conns []net.Conn
	for range 3 {
		c, err := net.DialTimeout("tcp", api, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /v1/node HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
		conns = append(conns, c)
	}
	for range 3 {
		c, err := net.DialTimeout("tcp", peer, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	child.Send("DIALED")
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		status, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
			t.Errorf("API request %d after the flood: %q, %v", i, status, err)
		}
	}
	child.Send("DONE")
	var n int
	child.Scan("LINES ", &n)
	child.Wait()
	t.Logf("%d accept log lines over 1.5 s of EMFILE on the API and peer listeners", n)
	// Two listeners, each at most a line a second (and one at the start).
	if n < 1 || n > 8 {
		t.Errorf("%d accept log lines, want between 1 and 8", n)
	}
}

func rlimitChild(t *testing.T) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	logw := &acceptortest.LineCounter{W: os.Stderr, Substr: "accept"}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n := nodetest.Start(t, rendezvoustest.Start(t), nodetest.WithLogger(logger))
	s, err := New(Config{Addr: "127.0.0.1:0", Node: n, Logger: logger})
	if err != nil {
		fail(err)
	}
	defer s.Close()
	release, err := acceptortest.FillFileTable(256)
	if err != nil {
		fail(err)
	}
	in := bufio.NewScanner(os.Stdin)
	fmt.Printf("FULL %s 127.0.0.1:%d\n", s.Addr(), n.Info().ListenPort)
	in.Scan()                           // DIALED
	time.Sleep(1500 * time.Millisecond) // the attack lasts this long
	release()
	in.Scan() // DONE
	fmt.Printf("LINES %d\n", logw.Count())
}
