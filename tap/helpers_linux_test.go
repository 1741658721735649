//go:build linux

package tap_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/reachd/reachd/tap"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// requireTAP skips a test that needs root and /dev/net/tun on a developer
// machine, saying why; under CI (CI=true) it fails instead.
func requireTAP(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (creates TAP devices and network namespaces)"
	} else if _, err := os.Stat("/dev/net/tun"); err != nil {
		why = "needs /dev/net/tun: " + err.Error()
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "needs ip (iproute2) for network namespaces"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// ns is a named network namespace that the test removes when it ends.
type ns struct {
	name   string
	handle netns.NsHandle
	nl     *netlink.Handle
}

func newNS(t testing.TB) *ns {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "reachtap-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &ns{name: name}
	t.Cleanup(func() {
		if n.nl != nil {
			n.nl.Close()
		}
		n.handle.Close()
		exec.Command("ip", "netns", "del", name).Run()
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	n.handle = h
	if n.nl, err = netlink.NewHandleAt(h); err != nil {
		t.Fatalf("netlink in %s: %v", name, err)
	}
	// Loopback up, for sockets bound inside.
	if lo, err := n.nl.LinkByName("lo"); err == nil {
		n.nl.LinkSetUp(lo)
	}
	return n
}

// do runs fn on an OS thread that is in the namespace: sockets and devices
// fn creates belong to it, and stay usable from any goroutine afterwards.
func (n *ns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(n.handle); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread() // else the thread dies with the goroutine
		}
		errc <- ferr
	}()
	return <-errc
}

// newTAP creates a device inside the namespace; the test closes it.
func (n *ns) newTAP(t testing.TB, cfg tap.Config) *tap.Device {
	t.Helper()
	var dev *tap.Device
	err := n.do(func() (err error) {
		dev, err = tap.New(cfg)
		return err
	})
	if err != nil {
		t.Fatalf("tap.New in %s: %v", n.name, err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}
