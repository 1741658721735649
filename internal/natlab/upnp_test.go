//go:build linux

package natlab_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"

	"github.com/reachd/reachd/internal/natlab"
	"github.com/reachd/reachd/rendezvous"
)

// startSTUN runs an RFC 5780 STUN server on the lab's two WAN services
// addresses, as miniupnpd's STUN test needs, until the test ends.
func startSTUN(t *testing.T, lab *natlab.Lab) netip.AddrPort {
	t.Helper()
	w := lab.WANAddrs()
	var s *rendezvous.STUNServer
	if err := lab.WAN().Do(func() (err error) {
		s, err = rendezvous.NewSTUNServer(rendezvous.STUNConfig{Listen: []string{
			fmt.Sprintf("%s:3478", w[0]), fmt.Sprintf("%s:3479", w[1]),
		}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return netip.AddrPortFrom(w[0], 3478)
}

// TestUPnPRouter: a router running miniupnpd with NAT-PMP only maps a
// port its host asks for, from its WAN address to the host, which a WAN
// host then reaches; it does not answer PCP; after StopUPnP the mapping is
// gone, and StartUPnP serves again.
func TestUPnPRouter(t *testing.T) {
	lab := natlab.New(t)
	stun := startSTUN(t, lab)
	r := lab.AddRouter(natlab.Easy, natlab.UPnP(stun, natlab.NATPMP))
	h := r.AddHost()

	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", ":5000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host\n"))
			c.Close()
		}
	}()

	mapPort := func() (*natpmp.AddPortMappingResult, error) {
		var res *natpmp.AddPortMappingResult
		err := h.Do(func() (err error) {
			c := natpmp.NewClientWithTimeout(r.LANIP().AsSlice(), 2*time.Second)
			res, err = c.AddPortMapping("tcp", 5000, 5000, 60)
			return err
		})
		return res, err
	}
	res, err := mapPort()
	if err != nil || res.MappedExternalPort != 5000 {
		t.Fatalf("nat-pmp map: %+v %v; want external port 5000\nminiupnpd:\n%s", res, err, r.UPnPLog())
	}
	reach := func() error {
		return lab.WAN().Do(func() error {
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(r.WANIP(), 5000).String(), 500*time.Millisecond)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 5)
			if _, err := c.Read(b); err != nil || string(b) != "host\n" {
				return fmt.Errorf("read %q: %v", b, err)
			}
			return nil
		})
	}
	if err := reach(); err != nil {
		t.Fatalf("the WAN through the mapping: %v\nruleset:\n%s", err, r.Ruleset())
	}

	// PCP (version 2) is dropped: an ANNOUNCE gets no answer.
	if err := h.Do(func() error {
		c, err := net.Dial("udp", netip.AddrPortFrom(r.LANIP(), 5351).String())
		if err != nil {
			return err
		}
		defer c.Close()
		announce := make([]byte, 24)
		announce[0] = 2
		copy(announce[8:], netip.AddrFrom16(h.IP().As16()).AsSlice())
		c.Write(announce)
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := c.Read(make([]byte, 1100)); err == nil {
			return fmt.Errorf("pcp answered (%d bytes)", n)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	if err := r.StopUPnP(); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if err := reach(); err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("the WAN after StopUPnP: %v, want a timeout (mapping gone)", err)
	}
	if err := r.StartUPnP(); err != nil {
		t.Fatal(err)
	}
	if res, err := mapPort(); err != nil || res.MappedExternalPort != 5000 {
		t.Fatalf("nat-pmp map after a restart: %+v %v", res, err)
	}
	if err := reach(); err != nil {
		t.Errorf("the WAN through the new mapping: %v", err)
	}
}
