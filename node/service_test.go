package node_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/service"
)

// target is a TCP server on loopback that counts its connections and
// answers each with what it read, then "bye" once the client half-closed.
type target struct {
	ln       net.Listener
	accepted atomic.Int64
}

func startTarget(t *testing.T) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{ln: ln}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.accepted.Add(1)
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(append(b, "bye"...))
			}()
		}
	}()
	return tg
}

func (tg *target) addr() string { return tg.ln.Addr().String() }

// servicePair starts two nodes: x forwards to y's services.
func servicePair(t *testing.T) (x, y *node.Node) {
	t.Helper()
	rv := rendezvoustest.Start(t)
	return nodetest.Start(t, rv), nodetest.Start(t, rv)
}

func TestServiceTCPForward(t *testing.T) {
	x, y := servicePair(t)
	tg := startTarget(t)
	if _, created, err := y.PutService(service.Service{Name: "echo", Target: tg.addr(), Allow: []string{x.ID()}}); err != nil || !created {
		t.Fatalf("put service: created %v, %v", created, err)
	}
	f, err := x.AddForward(service.Forward{Peer: y.Address(), Service: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", f.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("0123456789"), 100_000)
	go func() {
		c.Write(msg)
		c.(*net.TCPConn).CloseWrite() // the half-close reaches the target
	}()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read through the forward: %v", err)
	}
	if want := append(msg, "bye"...); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes through the forward, want %d equal ones", len(got), len(want))
	}
	var listed bool
	for _, c := range y.Conns() {
		if info := c.Info(); info.Service == "echo" && info.Direction == node.Inbound && info.PeerID == x.ID() {
			listed = true
		}
	}
	if !listed {
		t.Error("the service's use is not listed as an inbound connection with its service")
	}
	if fs := x.Forwards(); len(fs) != 1 || fs[0].Connections != 1 || fs[0].BytesSent != uint64(len(msg)) {
		t.Errorf("forwards %+v: want one with 1 connection and %d bytes sent", fs, len(msg))
	}
}

// A peer that may not use a service and a service that does not exist get
// the same abort, and the target sees no connection.
func TestServiceRefusedAlike(t *testing.T) {
	x, y := servicePair(t)
	tg := startTarget(t)
	other := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	if _, _, err := y.PutService(service.Service{Name: "web", Target: tg.addr(), Allow: []string{other}}); err != nil {
		t.Fatal(err)
	}
	addr := mustParse(t, y.Address())
	reasons := map[string]string{}
	for _, name := range []string{"web", "nosuch"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := x.ConnectWith(ctx, addr, node.ConnectOptions{Service: name})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		_, err = c.Read(ctx, 10)
		cancel()
		var ae *node.AbortError
		if !errors.As(err, &ae) || !ae.Remote {
			t.Fatalf("service %s: read %v, want an abort by the peer", name, err)
		}
		reasons[name] = ae.Reason
	}
	if reasons["web"] != service.NoSuchService || reasons["nosuch"] != service.NoSuchService {
		t.Errorf("abort reasons %q, want %q for both", reasons, service.NoSuchService)
	}
	if n := tg.accepted.Load(); n != 0 {
		t.Errorf("the target saw %d connections, want 0", n)
	}
}

// A forward's local client reads a reset, not a clean end, when the peer
// aborts its stream.
func TestForwardResetOnAbort(t *testing.T) {
	x, y := servicePair(t)
	f, err := x.AddForward(service.Forward{Peer: y.Address(), Service: "missing"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", f.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	_, err = io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("local client read %v, want a connection reset", err)
	}
}

func TestServiceUDPForward(t *testing.T) {
	x, y := servicePair(t)
	echo, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(append([]byte("re:"), buf[:n]...), from)
		}
	}()
	if _, _, err := y.PutService(service.Service{Name: "dns", Target: echo.LocalAddr().String(), Protocol: "udp", Allow: []string{"any"}}); err != nil {
		t.Fatal(err)
	}
	f, err := x.AddForward(service.Forward{Peer: y.Address(), Service: "dns", Protocol: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", f.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	// The first datagram waits for the stream to open; later ones do not.
	for i, msg := range []string{"one", "two", "three"} {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if got := string(buf[:n]); got != "re:"+msg {
			t.Fatalf("datagram %d: got %q, want %q", i, got, "re:"+msg)
		}
	}
	if fs := x.Forwards(); fs[0].Connections != 1 {
		t.Errorf("%d flows for one source address, want 1", fs[0].Connections)
	}
}

// Services and forwards are back after a restart, the forward on the
// same address.
func TestServicesSurviveRestart(t *testing.T) {
	rv := rendezvoustest.Start(t)
	y := nodetest.Start(t, rv)
	cfg := nodetest.Config(t, rv)
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc, _, err := n.PutService(service.Service{Name: "ssh", Target: "22", Allow: []string{"any"}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := n.AddForward(service.Forward{Peer: y.Address(), Service: "web"})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	n, err = node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.Services(); len(got) != 1 || got[0].Name != svc.Name || got[0].Target != "127.0.0.1:22" {
		t.Errorf("services after restart %+v, want %+v", got, svc)
	}
	got := n.Forwards()
	if len(got) != 1 || got[0].Forward != f.Forward || got[0].Error != "" {
		t.Fatalf("forwards after restart %+v, want %+v listening", got, f.Forward)
	}
	if c, err := net.Dial("tcp", f.Listen); err != nil {
		t.Errorf("the restored forward does not listen on %s: %v", f.Listen, err)
	} else {
		c.Close()
	}
}
