package natlab

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Host is a network namespace in the lab: a LAN host (Router.AddHost), the
// WAN namespace (Lab.WAN) or a router's own namespace (Router.Host).
type Host struct {
	lab    *Lab
	name   string
	ip     netip.Addr // invalid for a V6Only host
	ip6    netip.Addr // global IPv6 address; invalid without IPv6
	router *Router    // nil for the WAN and router namespaces
}

// HostOption changes how Router.AddHost builds a host.
type HostOption interface {
	applyHost(*hostConfig)
}

type hostConfig struct {
	v6only bool
}

type hostOptionFunc func(*hostConfig)

func (f hostOptionFunc) applyHost(c *hostConfig) { f(c) }

// V6Only makes a host IPv6-only: it gets its global IPv6 address and its
// link-local, no IPv4 address and no IPv4 route. Only for routers of labs
// built WithIPv6.
func V6Only() HostOption { return hostOptionFunc(func(c *hostConfig) { c.v6only = true }) }

// Name returns the network namespace name, as used by ip netns exec.
func (h *Host) Name() string { return h.name }

// IP returns the host's IPv4 address: its LAN address, or for the WAN
// namespace WANAddrs()[0], or for a router namespace its WAN address. It is
// the zero Addr for a V6Only host.
func (h *Host) IP() netip.Addr { return h.ip }

// IP6 returns the host's global IPv6 address: its static LAN address, or
// for the WAN namespace WANAddrs6()[0], or for a router namespace its IPv6
// WAN address. It is the zero Addr in a lab built without WithIPv6. The
// host also has a link-local address, derived from its interface's MAC.
func (h *Host) IP6() netip.Addr { return h.ip6 }

// Router returns the router whose LAN the host is on, or nil for the WAN and
// router namespaces.
func (h *Host) Router() *Router { return h.router }

// MachineID returns the host's /etc/machine-id as its programs see it.
func (h *Host) MachineID() (string, error) {
	b, err := os.ReadFile(filepath.Join("/etc/netns", h.name, "machine-id"))
	return strings.TrimSpace(string(b)), err
}

// SetMachineID gives the host another machine ID, as cloned containers
// and VMs share one; processes started afterwards see it.
func (h *Host) SetMachineID(id string) error {
	path := filepath.Join("/etc/netns", h.name, "machine-id")
	os.Remove(path) // written read-only
	return os.WriteFile(path, []byte(id+"\n"), 0o444)
}

// Command returns a command that runs name with args inside the host's
// namespace, through ip netns exec (which replaces itself with name, so the
// command's process is name itself). The caller starts and waits for it; the
// lab's teardown kills it if it still runs then.
func (h *Host) Command(ctx context.Context, name string, arg ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.name, name}, arg...)...)
}

// Do runs fn on an OS thread inside the host's namespace and returns its
// error. Sockets that fn creates itself (net.Listen, net.ListenPacket,
// net.Dialer.DialContext to an IP literal) belong to the namespace for their
// whole life and may be used anywhere afterwards. Goroutines that fn starts
// run outside the namespace. fn must not call t.FailNow or t.Fatal; a panic
// in fn is re-raised in the caller. Do may be called from any goroutine.
func (h *Host) Do(fn func() error) error { return doIn(filepath.Join(netnsDir, h.name), fn) }

// Start starts name with args in the host's namespace, writing its stdout
// and stderr to a file in tb.TempDir (Process.LogPath). The process runs in
// its own process group. tb's cleanup stops it (Process.Stop) and, when tb
// failed, logs its output. Use env(1) to set environment variables.
func (h *Host) Start(tb testing.TB, name string, arg ...string) *Process {
	tb.Helper()
	logPath := filepath.Join(tb.TempDir(), h.name+"-"+filepath.Base(name)+".log")
	p, err := startProcess(h.Command(context.Background(), name, arg...), logPath)
	if err != nil {
		tb.Fatalf("natlab: start %s in %s: %v", name, h.name, err)
	}
	tb.Cleanup(func() {
		if err := p.Stop(); err != nil {
			tb.Logf("natlab: %s in %s had exited: %v", name, h.name, err)
		}
		if tb.Failed() {
			tb.Logf("natlab: output of %s in %s (%s):\n%s", name, h.name, logPath, p.tail(32<<10))
		}
	})
	return p
}
