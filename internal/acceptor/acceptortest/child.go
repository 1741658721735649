package acceptortest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/syncbuf"
)

// Child is this test binary run again for one test, as a child process
// whose file table the test fills without starving the test itself. The
// two talk in lines: the child prints "WORD values" on stdout, the parent
// sends words on its stdin.
type Child struct {
	tb     testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr syncbuf.Buffer
}

// IsChild reports whether this process runs as the child of a test that
// started it with env.
func IsChild(env string) bool { return os.Getenv(env) == "1" }

// StartChild runs the test named test again in a child process with env
// set to 1 (see IsChild); the test's cleanup kills it.
func StartChild(tb testing.TB, test, env string) *Child {
	tb.Helper()
	c := &Child{tb: tb, cmd: exec.Command(os.Args[0], "-test.run=^"+test+"$")}
	c.cmd.Env = append(os.Environ(), env+"=1")
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.cmd.Process.Kill() })
	c.lines = bufio.NewScanner(stdout)
	return c
}

// Next returns the rest of the child's next line that starts with prefix,
// skipping other lines (the test framework's own output).
func (c *Child) Next(prefix string) string {
	c.tb.Helper()
	for c.lines.Scan() {
		if s, ok := strings.CutPrefix(c.lines.Text(), prefix); ok {
			return s
		}
	}
	c.cmd.Wait()
	c.tb.Fatalf("child ended before %q: %v\n%s", prefix, c.lines.Err(), c.Stderr())
	return ""
}

// Scan parses the values of the child's next line that starts with
// prefix into args (fmt.Sscan).
func (c *Child) Scan(prefix string, args ...any) {
	c.tb.Helper()
	if _, err := fmt.Sscan(c.Next(prefix), args...); err != nil {
		c.tb.Fatalf("child's %q line: %v", prefix, err)
	}
}

// Send writes a line to the child's stdin.
func (c *Child) Send(line string) { fmt.Fprintln(c.stdin, line) }

// Wait waits for the child to end, failing the test when it failed.
func (c *Child) Wait() {
	c.tb.Helper()
	// A child that does not end within a minute is stuck: SIGQUIT makes
	// the Go runtime print every goroutine's stack to its stderr, which the
	// failure shows.
	stuck := time.AfterFunc(time.Minute, func() { c.cmd.Process.Signal(syscall.SIGQUIT) })
	defer stuck.Stop()
	if err := c.cmd.Wait(); err != nil {
		c.tb.Fatalf("child: %v\n%s", err, c.Stderr())
	}
}

// Stderr is what the child wrote to stderr so far (its logs).
func (c *Child) Stderr() string { return c.stderr.String() }
