package node_test

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/service"
)

// TestAddressBookSurvivesRestart: entries saved by address and by node ID
// are back after a restart on the same data dir; one removed stays gone.
func TestAddressBookSurvivesRestart(t *testing.T) {
	rv := rendezvoustest.Start(t)
	dir := t.TempDir()
	b := nodetest.Start(t, rv)
	c := nodetest.Start(t, rv)
	a := nodetest.Start(t, rv, func(cfg *node.Config) { cfg.DataDir = dir })
	if _, created, err := a.PutPeer("bee", b.Address(), ""); err != nil || !created {
		t.Fatalf("PutPeer by address: created %v, %v", created, err)
	}
	if _, _, err := a.PutPeer("sea", "", c.ID()); err != nil {
		t.Fatalf("PutPeer by node ID: %v", err)
	}
	if _, _, err := a.PutPeer("gone", "", c.ID()); err != nil {
		t.Fatal(err)
	}
	if err := a.DeletePeer("gone"); err != nil {
		t.Fatal(err)
	}
	want := a.AddressBook()
	a.Close()

	a2 := nodetest.Start(t, rv, func(cfg *node.Config) { cfg.DataDir = dir })
	got := a2.AddressBook()
	names := func(ps []node.Peer) (s []string) {
		for _, p := range ps {
			s = append(s, p.Name+"="+p.NodeID+"@"+p.Address)
		}
		return s
	}
	if !slices.Equal(names(got), names(want)) || len(got) != 2 {
		t.Fatalf("book after restart: %v, want %v", names(got), names(want))
	}
	if got[0].Name != "bee" || got[0].Address != b.Address() || got[1].NodeID != c.ID() || got[1].Address != "" {
		t.Errorf("entries: %+v", got)
	}
}

// TestConnectByNameAndNodeID: a name and a bare node ID resolve (from the
// book, then from a current link, else over signaling) and connect; a
// node ID no node answers for is ErrNoAnswer.
func TestConnectByNameAndNodeID(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	e := nodetest.Start(t, rv)
	stranger := nodetest.Start(t, rv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := a.PutPeer("bee", b.Address(), ""); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"bee", b.ID()} {
		addr, source, err := a.Resolve(ctx, ref)
		if err != nil || source != node.SourceBook || addr.String() != b.Address() {
			t.Fatalf("Resolve(%s): %v %q %v, want b's address from the book", ref, addr, source, err)
		}
		c, err := a.Connect(ctx, addr, nil)
		if err != nil {
			t.Fatalf("connect to %s: %v", ref, err)
		}
		if c.Info().PeerID != b.ID() {
			t.Errorf("connect to %s reached %s", ref, c.Info().PeerID)
		}
		c.Close()
	}

	// e is in no book: its node ID resolves over signaling, and once
	// linked, from the link.
	if _, source, err := a.Resolve(ctx, e.ID()); err != nil || source != node.SourceSignaling {
		t.Fatalf("Resolve of an unknown node ID before a link: %q %v, want over signaling", source, err)
	}
	eAddr, _ := address.Parse(e.Address())
	c, err := a.Connect(ctx, eAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr, source, err := a.Resolve(ctx, e.ID())
	if err != nil || source != node.SourceLink || addr.NodeID != e.ID() {
		t.Fatalf("Resolve(e's node ID) with a link: %v %q %v, want from the link", addr, source, err)
	}

	near := nearMiss(t, stranger.ID())
	_, _, err = a.Resolve(ctx, near)
	var fe *service.FieldError
	if !errors.Is(err, node.ErrNoAnswer) || !errors.As(err, &fe) || fe.Field != "address" || !strings.Contains(err.Error(), near) {
		t.Errorf("Resolve of a node ID known nowhere: %v, want ErrNoAnswer on field address naming it", err)
	}
}

// TestBookLearnsAddress: an entry saved with an older address of the peer
// takes the one a connect reached it at.
func TestBookLearnsAddress(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	old, err := address.Parse(b.Address())
	if err != nil {
		t.Fatal(err)
	}
	old.MachineID = "0123456789abcdef" // as if b had moved to another machine since
	if old.String() == b.Address() {
		t.Fatal("the old address is b's current one")
	}
	saved, _, err := a.PutPeer("bee", old.String(), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cur, _ := address.Parse(b.Address())
	c, err := a.Connect(ctx, cur, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	got := a.AddressBook()
	if len(got) != 1 || got[0].Address != b.Address() || got[0].NodeID != b.ID() {
		t.Fatalf("book after the connect: %+v, want bee at %s", got, b.Address())
	}
	if got[0].UpdatedAt.Before(saved.UpdatedAt) {
		t.Errorf("updated_at went back: %v before %v", got[0].UpdatedAt, saved.UpdatedAt)
	}
}

// TestBookBadInput: bad input is an error naming its field.
func TestBookBadInput(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	field := func(err error) string {
		var fe *service.FieldError
		if errors.As(err, &fe) {
			return fe.Field
		}
		return ""
	}
	if _, _, err := a.PutPeer("Bad_Name", b.Address(), ""); !errors.Is(err, node.ErrPeerName) || field(err) != "name" {
		t.Errorf("bad label: %v", err)
	}
	if _, _, err := a.PutPeer("bee", "", strings.ToUpper(b.ID())); field(err) != "node_id" {
		t.Errorf("malformed node ID: %v", err)
	}
	if _, _, err := a.PutPeer("bee", "", ""); field(err) != "address" {
		t.Errorf("neither address nor node ID: %v", err)
	}
	if _, _, err := a.PutPeer("me", a.Address(), ""); !errors.Is(err, node.ErrSelf) {
		t.Errorf("our own address: %v, want ErrSelf", err)
	}
	if err := a.DeletePeer("nobody"); !errors.Is(err, node.ErrNoPeer) {
		t.Errorf("delete unknown: %v, want ErrNoPeer", err)
	}
	ctx := t.Context()
	if _, _, err := a.Resolve(ctx, "nobody"); !errors.Is(err, node.ErrNoPeer) || field(err) != "address" {
		t.Errorf("unknown name: %v, want ErrNoPeer on field address", err)
	}
	near := b.ID()[:51] + "b" // the last character must be a or q
	if _, _, err := a.Resolve(ctx, near); err == nil || errors.Is(err, node.ErrNoAddress) || errors.Is(err, node.ErrNoPeer) || field(err) != "address" {
		t.Errorf("malformed node ID: %v, want a bad-input error on field address", err)
	}
	if _, _, err := a.Resolve(ctx, "Not A Peer"); !errors.Is(err, node.ErrBadPeerRef) {
		t.Errorf("junk: %v, want ErrBadPeerRef", err)
	}
}

// TestBookLearnsAddressOnResume: the address a peer tells when asked, as
// a link asks it to resume, updates its entry.
func TestBookLearnsAddressOnResume(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	old, err := address.Parse(b.Address())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a.Connect(ctx, old, nil) // b answers linked peers only
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old.MachineID = "0123456789abcdef" // as if b had moved since
	if _, _, err := a.PutPeer("bee", old.String(), ""); err != nil {
		t.Fatal(err)
	}
	told, err := a.AskAddress(ctx, b.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got := a.AddressBook(); len(got) != 1 || got[0].Address != told.String() || got[0].Address == old.String() {
		t.Fatalf("book after the peer told its address %s: %+v", told, got)
	}
}

// TestForwardByName: a forward to a name in the address book keeps the
// name and reaches the peer's service; an unknown name is refused on the
// field peer.
func TestForwardByName(t *testing.T) {
	rv := rendezvoustest.Start(t)
	x, y := nodetest.Start(t, rv), nodetest.Start(t, rv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { ln.Close(); <-done }()
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("hello from y"))
	}()
	if _, _, err := y.PutService(service.Service{Name: "greet", Target: ln.Addr().String(), Allow: []string{"any"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.AddForward(service.Forward{Peer: "why", Service: "greet"}); !errors.Is(err, node.ErrNoPeer) {
		t.Fatalf("forward to an unknown name: %v, want ErrNoPeer", err)
	}
	if _, _, err := x.PutPeer("why", y.Address(), ""); err != nil {
		t.Fatal(err)
	}
	f, err := x.AddForward(service.Forward{Peer: "why", Service: "greet"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Peer != "why" {
		t.Errorf("forward's peer %q, want the name", f.Peer)
	}
	c, err := net.Dial("tcp", f.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello from y" {
		t.Fatalf("read through the forward: %q %v", got, err)
	}
}
