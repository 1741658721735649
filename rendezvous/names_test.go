package rendezvous_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/names"
	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/signaling"
)

// nameClient is a signaling client of a new node on s's broker.
func nameClient(t *testing.T, s *rendezvous.Server) (*signaling.Client, *identity.Identity) {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	c, err := signaling.New(signaling.Config{Identity: id, Brokers: []string{rendezvoustest.MQTTURL(s)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return c, id
}

// ask sends one name request to the broker's name service and returns
// its reply's error.
func ask[T any](t *testing.T, c *signaling.Client, k signaling.Type[T], body T) (names.Reply, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := c.RequestService(ctx, 0, names.Topic, k, body)
	if err != nil {
		t.Fatalf("%s: %v", k.Name(), err)
	}
	r, err := names.MsgReply.Decode(m)
	if err != nil {
		t.Fatal(err)
	}
	return r, r.Err()
}

func nameRecord(id *identity.Identity, name string) names.Record {
	now := time.Now()
	return names.Sign(id, names.Record{Name: name, Address: "0-[1,0,198.51.100.7,10.0.0.7,30000,5,2,0]-0-" + id.NodeID() + "-0123456789abcdef",
		Issued: now.UnixMilli(), Expires: now.Add(time.Minute).UnixMilli()})
}

// TestNameServiceOverBroker: the broker answers name requests on its
// service topic: a registration within the per-key limit, one beyond it
// refused with the limit's code, a record sent by another node than the
// one it names refused, a lookup by a third node answered with the
// owner's record, and an unknown name not found.
func TestNameServiceOverBroker(t *testing.T) {
	s := rendezvoustest.Start(t, func(c *rendezvous.Config) { c.Names.MaxPerKey = 1 })
	alice, aliceID := nameClient(t, s)
	bob, bobID := nameClient(t, s)
	if _, err := ask(t, alice, names.MsgRegister, nameRecord(aliceID, "alpha")); err != nil {
		t.Fatalf("register: %v", err)
	}
	if _, err := ask(t, alice, names.MsgRegister, nameRecord(aliceID, "beta")); !errors.Is(err, names.ErrKeyLimit) {
		t.Errorf("a second name past the per-key limit of 1: %v, want ErrKeyLimit", err)
	}
	if _, err := ask(t, bob, names.MsgRegister, nameRecord(aliceID, "gamma")); !errors.Is(err, names.ErrRecord) {
		t.Errorf("bob sends alice's record: %v, want ErrRecord", err)
	}
	if _, err := ask(t, bob, names.MsgRegister, nameRecord(bobID, "alpha")); !errors.Is(err, names.ErrTaken) {
		t.Errorf("bob registers alice's name: %v, want ErrTaken", err)
	}
	r, err := ask(t, bob, names.MsgLookup, names.Lookup{Name: "alpha"})
	if err != nil || r.Record == nil || r.Record.NodeID != aliceID.NodeID() || r.Record.Verify(time.Now()) != nil {
		t.Errorf("lookup: %+v %v, want alice's verified record", r.Record, err)
	}
	if _, err := ask(t, bob, names.MsgLookup, names.Lookup{Name: "nobody"}); !errors.Is(err, names.ErrNotFound) {
		t.Errorf("lookup of an unknown name: %v, want ErrNotFound", err)
	}
}

// TestNameServiceOff: with the name service off the broker answers no
// name request.
func TestNameServiceOff(t *testing.T) {
	s := rendezvoustest.Start(t, func(c *rendezvous.Config) { c.NamesOff = true })
	c, _ := nameClient(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := c.RequestService(ctx, 0, names.Topic, names.MsgLookup, names.Lookup{Name: "alpha"}); !errors.Is(err, signaling.ErrNoReply) {
		t.Errorf("lookup with the service off: %v, want no reply", err)
	}
}
