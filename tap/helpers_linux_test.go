//go:build linux

package tap_test

import (
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/reachd/reachd/tap"
	"github.com/reachd/reachd/tap/taptest"
)

func requireTAP(t testing.TB) { taptest.RequireTAP(t) }

// ns is a test's network namespace, with a netlink handle in it.
type ns struct {
	*taptest.NS
	name string
	nl   *netlink.Handle
}

func newNS(t testing.TB) *ns {
	t.Helper()
	n := &ns{NS: taptest.NewNS(t, "reachtap")}
	n.name = n.Name
	nl, err := netlink.NewHandleAt(n.Handle)
	if err != nil {
		t.Fatalf("netlink in %s: %v", n.name, err)
	}
	t.Cleanup(nl.Close)
	n.nl = nl
	return n
}

func (n *ns) do(fn func() error) error { return n.Do(fn) }

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
