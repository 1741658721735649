package e2e

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// TestSharedMachineIDOnOtherLANs: two nodes cloned from one image (the
// same machine ID) on different LANs connect without a dial to the other's
// internal address. The WAN answers at b's internal address, as a far
// network that happens to use the same private range would, and counts
// the dials it gets there.
func TestSharedMachineIDOnOtherLANs(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	ra, rb := lab.AddRouter(natlab.Easy), lab.AddRouter(natlab.Forwarded)
	ha, hb := ra.AddHost(), rb.AddHost()
	rb.Forward(hb, labPort)
	id, err := ha.MachineID()
	if err != nil {
		t.Fatal(err)
	}
	if err := hb.SetMachineID(id); err != nil {
		t.Fatal(err)
	}

	// A trap at b's internal address, in the WAN namespace.
	decoy := netip.AddrPortFrom(hb.IP(), labPort)
	if out, err := lab.WAN().Command(context.Background(), "ip", "addr", "add", decoy.Addr().String()+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("decoy address: %v: %s", err, out)
	}
	var ln net.Listener
	if err := lab.WAN().Do(func() (err error) {
		ln, err = net.Listen("tcp", decoy.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	trapped := make(chan struct{}, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			trapped <- struct{}{}
			c.Close()
		}
	}()
	// marker dials the trap from a and waits until it is accepted: every
	// dial made before it has been counted by then (one accept queue).
	marker := func() {
		t.Helper()
		if err := ha.Do(func() error {
			c, err := net.DialTimeout("tcp", decoy.String(), 5*time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}); err != nil {
			t.Fatalf("the decoy is not reachable from a: %v", err)
		}
		select {
		case <-trapped:
		case <-time.After(5 * time.Second):
			t.Fatal("the decoy did not count the marker")
		}
	}
	marker()

	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{"a": ha, "b": hb})
	if nodes["a"].info.Address == "" || nodes["b"].info.Address == "" {
		t.Fatal("a node has no address")
	}
	_, c := timedConnect(t, nodes["a"], nodes["b"], "direct")
	nodes["a"].close(t, c.ID)
	if want := rb.WANIP().String() + ":" + strconv.Itoa(labPort); c.RemoteAddr != want {
		t.Errorf("connected to %s, want b's forwarded external address %s", c.RemoteAddr, want)
	}
	marker()
	if n := len(trapped); n != 0 {
		t.Errorf("a dialled b's internal address %d times though they share only a machine ID", n)
	}
}
