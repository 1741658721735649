// Package taptest helps test TAP devices: it says whether a test can make
// them, and makes network namespaces to put them in.
package taptest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// RequireTAP skips a test that needs root, /dev/net/tun and ip(8) on a
// developer machine, saying why; under CI (CI=true) it fails instead.
func RequireTAP(t testing.TB) {
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

// NS is a named network namespace, with its loopback up, that the test
// removes when it ends.
type NS struct {
	Name   string
	Handle netns.NsHandle
}

// NewNS makes a namespace named prefix plus random hex.
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := prefix + "-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	n := &NS{Name: name}
	t.Cleanup(func() {
		n.Handle.Close()
		exec.Command("ip", "netns", "del", name).Run()
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	n.Handle = h
	if nl, err := netlink.NewHandleAt(h); err == nil {
		if lo, err := nl.LinkByName("lo"); err == nil {
			nl.LinkSetUp(lo)
		}
		nl.Close()
	}
	return n
}

// Do runs fn on an OS thread that is in the namespace: sockets and devices
// fn creates belong to it, and stay usable from any goroutine afterwards.
func (n *NS) Do(fn func() error) error {
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
		if err := netns.Set(n.Handle); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
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
