package clock_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/clock"
)

// startChronyd runs chronyd as a local stratum-10 NTP server on a free
// loopback port and returns its address. It never touches the system clock
// (-x). It skips when chronyd is missing, unless CI=true.
func startChronyd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("chronyd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chronyd is required under CI: %v", err)
		}
		t.Skipf("chronyd not installed: %v", err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close() // chronyd binds it next; another process taking it meanwhile is unlikely

	dir := t.TempDir()
	conf := filepath.Join(dir, "chrony.conf")
	err = os.WriteFile(conf, fmt.Appendf(nil, `port %d
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 10
cmdport 0
pidfile %s
driftfile %s
`, port, filepath.Join(dir, "chronyd.pid"), filepath.Join(dir, "drift")), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-x", "-d", "-f", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chronyd: %v", err)
	}
	exited := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { exited <- cmd.Wait() })
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		wg.Wait() // out is complete and no longer written
		if t.Failed() {
			t.Logf("chronyd output:\n%s", out.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	// Poll until chronyd answers (it needs a moment to bind), or give up.
	c, err := clock.New(clock.Config{Servers: []string{addr}, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	for {
		_, err := c.Sync(ctx)
		if err == nil {
			return addr
		}
		select {
		case werr := <-exited:
			t.Fatalf("chronyd exited early: %v", werr) // Cleanup logs its output
		case <-ctx.Done():
			t.Fatalf("chronyd on %s never answered: %v", addr, err)
		case <-time.After(50 * time.Millisecond): // poll interval, not a synchronisation
		}
	}
}

func TestChronyd(t *testing.T) {
	addr := startChronyd(t)
	dead, _ := silentServer(t)
	c, err := clock.New(clock.Config{Servers: []string{addr, dead}, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	off, err := c.Sync(t.Context())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	// chronyd serves this very host's clock: the offset is only noise.
	if off < -50*time.Millisecond || off > 50*time.Millisecond {
		t.Errorf("offset to a local chronyd = %v, want about 0", off)
	}
	st := c.Status()
	if st.Answered != 1 || st.Asked != 2 || st.LastSync.IsZero() || st.LastError != "" {
		t.Errorf("status = %+v, want 1 of 2 answered", st)
	}
	t.Logf("offset to local chronyd: %v", off)
}
