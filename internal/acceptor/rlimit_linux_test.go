package acceptor_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/acceptor"
	"github.com/reachd/reachd/internal/acceptor/acceptortest"
)

const childEnv = "ACCEPTOR_RLIMIT_CHILD"

// TestAcceptUnderRLIMITNOFILE runs an accept loop in a child process whose
// file table is really full (RLIMIT_NOFILE lowered, then filled with
// /dev/null), dials it from this process, and checks that the child logs a
// bounded number of lines while accept fails and serves the connection once
// it frees descriptors.
func TestAcceptUnderRLIMITNOFILE(t *testing.T) {
	if acceptortest.IsChild(childEnv) {
		rlimitChild()
		return
	}
	child := acceptortest.StartChild(t, "TestAcceptUnderRLIMITNOFILE", childEnv)
	addr := child.Next("FULL ")
	c, err := net.DialTimeout("tcp", addr, 10*time.Second) // completes in the backlog
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "served\n" {
		t.Fatalf("read from the child: %q, %v\n%s", got, err, child.Stderr())
	}
	var failures, logLines int
	child.Scan("DONE ", &failures, &logLines)
	child.Wait()
	t.Logf("%d accept failures, %d log lines", failures, logLines)
	if failures < 8 {
		t.Errorf("%d accept failures: the file table was not full", failures)
	}
	if logLines > 3 {
		t.Errorf("%d log lines for %d failures in about 1.3s, want at most 3:\n%s", logLines, failures, child.Stderr())
	}
}

func rlimitChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	logw := &acceptortest.LineCounter{W: os.Stderr, Substr: "accept"}
	ln := acceptor.New(raw, acceptor.Config{Logger: slog.New(slog.NewTextHandler(logw, nil))})
	defer ln.Close()

	release, err := acceptortest.FillFileTable(64)
	if err != nil {
		fail(err)
	}
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		_, err = io.WriteString(c, "served\n")
		c.Close()
		served <- err
	}()
	fmt.Printf("FULL %s\n", raw.Addr())
	// Let accept fail for a while: 8 failures in a row take about 1.3s of
	// pauses (5ms doubling).
	for ln.Failures() < 8 {
		time.Sleep(10 * time.Millisecond)
	}
	release()
	if err := <-served; err != nil {
		fail(err)
	}
	fmt.Printf("DONE %d %d\n", ln.Failures(), logw.Count())
}
