package natlab

import (
	"context"
	"fmt"
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

// AddHost adds a host on the router's LAN with the next free LAN address
// and a default route via the router; in a lab built WithIPv6 also with the
// IPv6 address of the same number on the router's IPv6 LAN (10.3.0.2 and
// 2001:db8:3::2) and an IPv6 default route. V6Only leaves out IPv4.
func (r *Router) AddHost(opts ...HostOption) *Host {
	r.lab.tb.Helper()
	var cfg hostConfig
	for _, o := range opts {
		o.applyHost(&cfg)
	}
	h, err := r.addHost(cfg)
	if err != nil {
		r.lab.tb.Fatalf("natlab: add host to router %s: %v", r.Name(), err)
	}
	return h
}

func (r *Router) addHost(cfg hostConfig) (*Host, error) {
	l := r.lab
	if cfg.v6only && !r.lan6.IsValid() {
		return nil, fmt.Errorf("a v6-only host needs a router with IPv6 (a lab built WithIPv6)")
	}
	r.mu.Lock()
	i := r.next
	ip, err := lanAddr(r.lan, i)
	var ip6 netip.Addr
	if err == nil && r.lan6.IsValid() {
		ip6, err = lanAddr6(r.lan6, i)
	}
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	r.next++
	if cfg.v6only {
		ip = netip.Addr{}
	}
	l.mu.Lock()
	l.hosts++
	hn := l.hosts
	l.mu.Unlock()
	name := fmt.Sprintf("%sh%d", l.prefix, hn)
	h := &Host{lab: l, name: name, ip: ip, ip6: ip6, router: r}
	r.hosts = append(r.hosts, h)
	r.mu.Unlock()

	if err := addNamespace(name); err != nil {
		return nil, err
	}
	l.track(name)
	if err := setSysctls(name, hostSysctls); err != nil {
		return nil, err
	}
	if ip6.IsValid() {
		if err := setSysctls(name, hostSysctls6); err != nil {
			return nil, err
		}
	}
	port := fmt.Sprintf("h%d", hn) // the host's port on the LAN bridge
	if err := ipBatch("", fmt.Sprintf("link add name eth0 netns %s type veth peer name %s netns %s",
		name, port, r.Name())); err != nil {
		return nil, err
	}
	if err := ipBatch(r.Name(), "link set "+port+" master "+lanIface, "link set "+port+" up"); err != nil {
		return nil, err
	}
	var cmds []string
	if ip.IsValid() {
		cmds = append(cmds, fmt.Sprintf("addr add %s dev eth0", netip.PrefixFrom(ip, r.lan.Bits())))
	}
	if ip6.IsValid() {
		cmds = append(cmds, fmt.Sprintf("addr add %s dev eth0 nodad", netip.PrefixFrom(ip6, r.lan6.Bits())))
	}
	cmds = append(cmds, "link set eth0 up")
	if ip.IsValid() {
		cmds = append(cmds, "route add default via "+r.lanIP.String())
	}
	if ip6.IsValid() {
		cmds = append(cmds, "route add ::/0 via "+r.lanIP6.String())
	}
	if err := ipBatch(name, cmds...); err != nil {
		return nil, err
	}
	return h, nil
}
