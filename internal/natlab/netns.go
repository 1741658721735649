package natlab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// netnsDir is where ip(8) keeps named network namespaces.
const netnsDir = "/var/run/netns"

// cmdTimeout bounds each ip or nft invocation; they take milliseconds.
const cmdTimeout = 20 * time.Second

// run runs a setup command and returns its combined output in the error.
func run(stdin string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// ipBatch runs ip(8) commands, one per line in ip -batch syntax, in namespace
// ns ("" for the namespace of the test process). It stops at the first
// failing command.
func ipBatch(ns string, cmds ...string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	if err := run(strings.Join(cmds, "\n")+"\n", "ip", args...); err != nil {
		return fmt.Errorf("in namespace %q: %w", ns, err)
	}
	return nil
}

func addNamespace(name string) error {
	if err := run("", "ip", "netns", "add", name); err != nil {
		return err
	}
	if err := writeMachineID(name); err != nil {
		return err
	}
	return ipBatch(name, "link set lo up")
}

// writeMachineID gives the namespace a machine ID of its own: ip netns exec
// bind-mounts /etc/netns/NAME/* over /etc, so each lab host is a machine of
// its own to the programs it runs, as it would be in the world.
func writeMachineID(name string) error {
	dir := filepath.Join("/etc/netns", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("machine id of %s: %w", name, err)
	}
	var id [16]byte
	rand.Read(id[:])
	return os.WriteFile(filepath.Join(dir, "machine-id"), []byte(hex.EncodeToString(id[:])+"\n"), 0o444)
}

// deleteNamespace kills every process in namespace name and deletes it.
// Killing comes first: a namespace whose name is deleted lives on for as long
// as a process runs in it.
func deleteNamespace(name string) error {
	pids, err := namespacePids(name)
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if err := killPid(pid); err != nil {
			return fmt.Errorf("kill %d in namespace %s: %w", pid, name, err)
		}
	}
	os.RemoveAll(filepath.Join("/etc/netns", name))
	return run("", "ip", "netns", "delete", name)
}

func namespacePids(name string) ([]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w", name, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("ip netns pids %s: bad pid %q", name, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// staleName matches lab namespace names and captures the owner's pid in base 36.
var staleName = regexp.MustCompile(`^nl([0-9a-z]+)-[0-9a-z]+-`)

var sweepOnce sync.Once

// sweepStale deletes lab namespaces whose owning process is gone, left behind
// by a test binary that was killed before its cleanups ran. Best effort.
func sweepStale() {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		m := staleName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.ParseInt(m[1], 36, 32)
		if err != nil || int(pid) == os.Getpid() || processAlive(int(pid)) {
			continue
		}
		_ = deleteNamespace(e.Name())
	}
}

// setSysctls writes net sysctls (paths relative to /proc/sys/net) inside
// namespace ns. Files that do not exist on this kernel are skipped.
func setSysctls(ns string, settings []sysctl) error {
	return doIn(filepath.Join(netnsDir, ns), func() error {
		for _, s := range settings {
			err := os.WriteFile(filepath.Join("/proc/sys/net", s.path), []byte(s.value), 0)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("sysctl net/%s=%s: %w", s.path, s.value, err)
			}
		}
		return nil
	})
}

type sysctl struct{ path, value string }

var (
	// routerSysctls configure the WAN namespace and routers: forward, never
	// drop for asymmetric paths, send no redirects (public hosts are reached
	// through the WAN namespace on the same bridge), and keep bridged frames
	// out of netfilter so a bridge behaves like a switch.
	routerSysctls = []sysctl{
		{"ipv4/ip_forward", "1"},
		{"ipv4/conf/all/rp_filter", "0"},
		{"ipv4/conf/default/rp_filter", "0"},
		{"ipv4/conf/all/send_redirects", "0"},
		{"ipv4/conf/default/send_redirects", "0"},
		{"bridge/bridge-nf-call-iptables", "0"},
		{"bridge/bridge-nf-call-ip6tables", "0"},
		{"bridge/bridge-nf-call-arptables", "0"},
	}
	// routerSysctls6 add IPv6 forwarding in labs built WithIPv6. Every
	// IPv6 namespace gets static addresses only: no duplicate address
	// detection (addresses are usable at once), no router advertisements,
	// no SLAAC.
	routerSysctls6 = append([]sysctl{
		{"ipv6/conf/all/forwarding", "1"},
		{"ipv6/conf/default/forwarding", "1"},
	}, staticSysctls6...)
	hostSysctls6   = staticSysctls6
	staticSysctls6 = []sysctl{
		{"ipv6/conf/all/accept_dad", "0"},
		{"ipv6/conf/default/accept_dad", "0"},
		{"ipv6/conf/all/accept_ra", "0"},
		{"ipv6/conf/default/accept_ra", "0"},
		{"ipv6/conf/all/autoconf", "0"},
		{"ipv6/conf/default/autoconf", "0"},
	}
	hostSysctls = []sysctl{
		{"ipv4/ip_forward", "0"},
		{"ipv4/conf/all/rp_filter", "0"},
		{"ipv4/conf/default/rp_filter", "0"},
	}
)
