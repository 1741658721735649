package natlab

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// Process is a long-lived process started by Host.Start.
type Process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error       // set before done is closed
	stopped atomic.Bool // Stop sent a signal
}

func startProcess(cmd *exec.Cmd, logPath string) (*Process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	defer f.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = groupAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { // owned by p: Stop waits for done
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath returns the file receiving the process's stdout and stderr.
func (p *Process) LogPath() string { return p.logPath }

// Output returns what the process has written so far to stdout and stderr.
func (p *Process) Output() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *Process) tail(n int) string {
	out := p.Output()
	if len(out) > n {
		return "...\n" + out[len(out)-n:]
	}
	return out
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop ends the process group: SIGTERM, then SIGKILL if the process still
// runs after 5s. It waits for the process and returns nil if it had to be
// stopped, or its exit error if it had already exited on its own. Stop may
// be called more than once.
func (p *Process) Stop() error {
	select {
	case <-p.done:
	default:
		p.stopped.Store(true)
		_ = signalGroup(p.cmd.Process, syscall.SIGTERM)
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			_ = signalGroup(p.cmd.Process, syscall.SIGKILL)
			<-p.done
		}
	}
	if p.stopped.Load() {
		return nil
	}
	return p.waitErr
}
