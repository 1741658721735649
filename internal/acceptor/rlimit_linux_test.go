package acceptor_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
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
	if os.Getenv(childEnv) == "1" {
		rlimitChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptUnderRLIMITNOFILE$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	next := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if s, ok := strings.CutPrefix(lines.Text(), prefix); ok {
				return s
			}
		}
		cmd.Wait()
		t.Fatalf("child ended before %q: %v\n%s", prefix, lines.Err(), stderr.String())
		return ""
	}
	addr := next("FULL ")
	c, err := net.DialTimeout("tcp", addr, 10*time.Second) // completes in the backlog
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "served\n" {
		t.Fatalf("read from the child: %q, %v\n%s", got, err, stderr.String())
	}
	var failures, logLines int
	if _, err := fmt.Sscan(next("DONE "), &failures, &logLines); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	t.Logf("%d accept failures, %d log lines", failures, logLines)
	if failures < 8 {
		t.Errorf("%d accept failures: the file table was not full", failures)
	}
	if logLines > 3 {
		t.Errorf("%d log lines for %d failures in about 1.3s, want at most 3:\n%s", logLines, failures, stderr.String())
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
