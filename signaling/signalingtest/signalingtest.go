// Package signalingtest provides test fixtures for package signaling: a
// mosquitto broker started on a free loopback port, which a test can kill and
// restart on the same port.
package signalingtest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MosquittoPath is where Debian's mosquitto package installs the broker.
const MosquittoPath = "/usr/sbin/mosquitto"

// startTimeout bounds how long mosquitto may take to report it is running.
const startTimeout = 10 * time.Second

// Mosquitto is a mosquitto process listening on 127.0.0.1.
type Mosquitto struct {
	tb   testing.TB
	path string
	conf string
	port int

	mu   sync.Mutex
	proc *process // nil while stopped
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its output is drained
}

// StartMosquitto starts mosquitto on a free loopback port and stops it when
// the test ends. It skips the test when the binary is missing, unless the
// environment has CI=true, where it fails.
func StartMosquitto(tb testing.TB) *Mosquitto {
	tb.Helper()
	path, err := exec.LookPath(MosquittoPath)
	if err != nil {
		path, err = exec.LookPath("mosquitto")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("mosquitto not found (install the Debian package mosquitto): %v", err)
		}
		tb.Skipf("mosquitto not found (install the Debian package mosquitto): %v", err)
	}
	m := &Mosquitto{tb: tb, path: path, conf: filepath.Join(tb.TempDir(), "mosquitto.conf")}
	tb.Cleanup(m.Stop)

	// A free port can be taken by someone else between our probe and
	// mosquitto's bind; try a few.
	var lastErr error
	for range 3 {
		if m.port, err = freePort(); err != nil {
			tb.Fatalf("mosquitto: %v", err)
		}
		// set_tcp_nodelay: without it Nagle and delayed ACKs add ~40ms to
		// every round trip on loopback.
		conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n", m.port)
		if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
			tb.Fatalf("mosquitto: %v", err)
		}
		if lastErr = m.start(); lastErr == nil {
			return m
		}
	}
	tb.Fatalf("mosquitto: %v", lastErr)
	return nil
}

// Addr returns host:port of the listener.
func (m *Mosquitto) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.port)) }

// URL returns the broker's mqtt:// URL.
func (m *Mosquitto) URL() string { return "mqtt://" + m.Addr() }

// Stop kills the broker (SIGKILL, as a crash would) and waits for it to exit.
// Stopping a stopped broker does nothing.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	p := m.proc
	m.proc = nil
	m.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Restart starts a stopped broker again on the same port and returns when it
// accepts connections.
func (m *Mosquitto) Restart() {
	m.tb.Helper()
	if err := m.start(); err != nil {
		m.tb.Fatalf("mosquitto restart: %v", err)
	}
}

// start runs mosquitto and waits until it logs that it is running.
func (m *Mosquitto) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil {
		return errors.New("already running")
	}
	cmd := exec.Command(m.path, "-c", m.conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	running := make(chan struct{})
	var (
		logMu sync.Mutex
		log   []string
	)
	go func() { // owned by p: ends when the process exits and the pipe closes
		defer close(p.done)
		s := bufio.NewScanner(stderr)
		signalled := false
		for s.Scan() {
			line := s.Text()
			logMu.Lock()
			log = append(log, line)
			logMu.Unlock()
			if !signalled && strings.Contains(line, " running") {
				signalled = true
				close(running)
			}
		}
		_ = cmd.Wait()
	}()

	t := time.NewTimer(startTimeout)
	defer t.Stop()
	select {
	case <-running:
		m.proc = p
		return nil
	case <-p.done:
	case <-t.C:
		_ = cmd.Process.Kill()
		<-p.done
	}
	logMu.Lock()
	defer logMu.Unlock()
	return fmt.Errorf("mosquitto on port %d did not start: %s", m.port, strings.Join(log, " | "))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
