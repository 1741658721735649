package service_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/reachd/reachd/service"
	"github.com/reachd/reachd/session"
	"github.com/reachd/reachd/session/sessiontest"
	"github.com/reachd/reachd/state"
)

const someID = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name   string
		in     service.Service
		target string // after Check; "" when it fails
		field  string // the field a failure names
	}{
		{"bare port", service.Service{Name: "ssh", Target: "22", Allow: []string{"any"}}, "127.0.0.1:22", ""},
		{"colon port", service.Service{Name: "ssh", Target: ":22", Allow: []string{someID}}, "127.0.0.1:22", ""},
		{"named host", service.Service{Name: "web", Target: "printer.lan:80", Allow: []string{"ANY"}}, "printer.lan:80", ""},
		{"ipv6", service.Service{Name: "web", Target: "[::1]:80", Allow: []string{"any"}}, "[::1]:80", ""},
		{"name not a label", service.Service{Name: "Web", Target: "80", Allow: []string{"any"}}, "", "name"},
		{"name too long", service.Service{Name: string(make([]byte, 64)), Target: "80", Allow: []string{"any"}}, "", "name"},
		{"no port", service.Service{Name: "web", Target: "localhost", Allow: []string{"any"}}, "", "target"},
		{"port 0", service.Service{Name: "web", Target: "127.0.0.1:0", Allow: []string{"any"}}, "", "target"},
		{"port too big", service.Service{Name: "web", Target: "70000", Allow: []string{"any"}}, "", "target"},
		{"bad host", service.Service{Name: "web", Target: "a b:80", Allow: []string{"any"}}, "", "target"},
		{"protocol", service.Service{Name: "web", Target: "80", Protocol: "sctp", Allow: []string{"any"}}, "", "protocol"},
		{"nobody allowed", service.Service{Name: "web", Target: "80"}, "", "allow"},
		{"not a node ID", service.Service{Name: "web", Target: "80", Allow: []string{"bob"}}, "", "allow"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Check()
			var fe *service.FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("%v", err)
			case tt.field == "" && got.Target != tt.target:
				t.Errorf("target %q, want %q", got.Target, tt.target)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Errorf("error %v, want one naming %s", err, tt.field)
			}
		})
	}
}

// opener opens streams on one side of a session link pair; the other side
// serves them with srv.
type opener struct{ l *session.Link }

func (o opener) CheckPeer(peer string) error { return nil }

func (o opener) OpenService(ctx context.Context, peer, name string, frames bool) (*session.Stream, error) {
	h := session.Header{Service: name}
	if frames {
		h.Kind = session.KindFrames
	}
	return o.l.Open(ctx, h)
}

// A UDP flow ends after UDPIdle without a datagram, and the next datagram
// from the same source opens a new one.
func TestUDPFlowIdle(t *testing.T) {
	a, b := sessiontest.Pair(t, session.Config{})
	sessiontest.Connect(t, a, b, sessiontest.TCP)
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
			echo.WriteTo(buf[:n], from)
		}
	}()
	srv, err := service.New(service.Config{Opener: opener{b}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	svc := service.Service{Name: "echo", Target: echo.LocalAddr().String(), Protocol: "udp", Allow: []string{"any"}}
	go func() {
		for {
			s, err := b.Accept(context.Background())
			if err != nil {
				return
			}
			srv.Serve(s, svc)
		}
	}()
	const idle = 200 * time.Millisecond
	cli, err := service.New(service.Config{Opener: opener{a}, UDPIdle: idle})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	f, err := cli.AddForward(service.Forward{Peer: "p", Service: "echo", Protocol: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", f.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := func() {
		t.Helper()
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 16)
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("echo: %q %v", buf[:n], err)
		}
	}
	roundTrip()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if info, _ := cli.Forward(f.ID); info.Active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle flow did not end")
		}
	}
	roundTrip()
	if info, _ := cli.Forward(f.ID); info.Connections != 2 {
		t.Errorf("%d flows, want 2: a new one after the idle end", info.Connections)
	}
}

// A saved forward whose address is taken at start is listed with its
// error, and kept.
func TestRestoreTakenAddress(t *testing.T) {
	dir := t.TempDir()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := sessiontest.Pair(t, session.Config{})
	m, err := service.New(service.Config{Opener: opener{a}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.AddForward(service.Forward{Peer: "p", Service: "web"})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	taken, err := net.Listen("tcp", f.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	st, _ = state.Open(dir)
	m, err = service.New(service.Config{Opener: opener{a}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := m.Forwards()
	if len(got) != 1 || got[0].ID != f.ID || got[0].Error == "" {
		t.Fatalf("forwards %+v, want %s listed with an error", got, f.ID)
	}
}

// TestUDPFlowsCapped: a UDP forward keeps at most MaxUDPFlows flows; a
// datagram from one more source is dropped and counted, and a source
// gets in once a flow has ended.
func TestUDPFlowsCapped(t *testing.T) {
	a, b := sessiontest.Pair(t, session.Config{})
	sessiontest.Connect(t, a, b, sessiontest.TCP)
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
			echo.WriteTo(buf[:n], from)
		}
	}()
	srv, err := service.New(service.Config{Opener: opener{b}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	svc := service.Service{Name: "echo", Target: echo.LocalAddr().String(), Protocol: "udp", Allow: []string{"any"}}
	go func() {
		for {
			s, err := b.Accept(context.Background())
			if err != nil {
				return
			}
			srv.Serve(s, svc)
		}
	}()
	const idle = 2 * time.Second // long beside the reads below: the first two flows stay up
	cli, err := service.New(service.Config{Opener: opener{a}, UDPIdle: idle, MaxUDPFlows: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	f, err := cli.AddForward(service.Forward{Peer: "p", Service: "echo", Protocol: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	echoes := func(c net.Conn) bool {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		return err == nil && string(buf[:n]) == "ping"
	}
	var conns []net.Conn
	for i := range 3 {
		c, err := net.Dial("udp", f.Listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		if i < 2 {
			// Its flow is open once it has echoed (the first datagram may
			// beat the stream: resend within the idle time).
			for deadline := time.Now().Add(10 * time.Second); !echoes(c); {
				if time.Now().After(deadline) {
					t.Fatalf("source %d: no echo", i)
				}
			}
		}
	}
	if echoes(conns[2]) {
		t.Fatal("a third source got a flow past MaxUDPFlows 2")
	}
	if info, _ := cli.Forward(f.ID); info.Failures == 0 || info.Connections != 2 {
		t.Fatalf("forward %+v: want the third source's datagram counted as a failure, 2 flows", info)
	}
	// Once the first two are idle, the third source gets in.
	for deadline := time.Now().Add(10 * time.Second); !echoes(conns[2]); {
		if time.Now().After(deadline) {
			t.Fatal("the third source never got a flow after the others ended")
		}
	}
}
