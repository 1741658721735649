package names_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/names"
)

// fakeAddress is a peer address of id, as a record carries.
func fakeAddress(id string) string {
	return "0-[1,0,198.51.100.7,10.0.0.7,30000,5,2,0]-0-" + id + "-0123456789abcdef"
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func mustID(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// record is a record of name for id, issued now for ttl.
func record(id *identity.Identity, name string, now time.Time, ttl time.Duration) names.Record {
	return names.Sign(id, names.Record{Name: name, Address: fakeAddress(id.NodeID()),
		Issued: now.UnixMilli(), Expires: now.Add(ttl).UnixMilli()})
}

var ip1, ip2 = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")

// TestRegistryOwnership: the first key to register a name owns it while
// it renews; another key is refused until the record expires unrenewed,
// then takes it.
func TestRegistryOwnership(t *testing.T) {
	clk := &clock{time.Unix(1_800_000_000, 0)}
	r := names.NewRegistry(names.RegistryConfig{Now: clk.now})
	alice, mallory := mustID(t), mustID(t)
	if err := r.Register(record(alice, "laptop", clk.t, 10*time.Minute), ip1); err != nil {
		t.Fatal(err)
	}
	for range 3 { // alice renews every 5 minutes; mallory tries each time
		clk.t = clk.t.Add(5 * time.Minute)
		if err := r.Register(record(mallory, "laptop", clk.t, 10*time.Minute), ip2); !errors.Is(err, names.ErrTaken) {
			t.Fatalf("another key while the owner renews: %v, want ErrTaken", err)
		}
		if err := r.Register(record(alice, "laptop", clk.t, 10*time.Minute), ip1); err != nil {
			t.Fatalf("the owner renews: %v", err)
		}
	}
	if got, err := r.Lookup("laptop"); err != nil || got.NodeID != alice.NodeID() {
		t.Fatalf("lookup: %v %v, want alice's", got.NodeID, err)
	}
	clk.t = clk.t.Add(10*time.Minute + time.Millisecond) // alice stopped renewing
	if _, err := r.Lookup("laptop"); !errors.Is(err, names.ErrNotFound) {
		t.Fatalf("lookup of an expired record: %v, want ErrNotFound", err)
	}
	if err := r.Register(record(mallory, "laptop", clk.t, 10*time.Minute), ip2); err != nil {
		t.Fatalf("another key after the record expired: %v", err)
	}
	if got, _ := r.Lookup("laptop"); got.NodeID != mallory.NodeID() {
		t.Errorf("the name went to %s, want the new owner", got.NodeID)
	}
}

// TestRegistryRefusesBadRecords: forged, expired, stale, too long, and
// malformed records are refused, and leave the registry as it was.
func TestRegistryRefusesBadRecords(t *testing.T) {
	clk := &clock{time.Unix(1_800_000_000, 0)}
	r := names.NewRegistry(names.RegistryConfig{Now: clk.now, MaxTTL: time.Hour})
	alice, mallory := mustID(t), mustID(t)
	good := record(alice, "laptop", clk.t, 10*time.Minute)
	if err := r.Register(good, ip1); err != nil {
		t.Fatal(err)
	}
	forgedAddr := good
	forgedAddr.Address = strings.Replace(forgedAddr.Address, "198.51.100.7", "198.51.100.9", 1)
	// mallory's signature over a record of alice's node ID and address
	stolen := names.Sign(mallory, names.Record{Name: "laptop", Address: fakeAddress(alice.NodeID()), Issued: clk.t.Add(time.Second).UnixMilli(), Expires: clk.t.Add(time.Minute).UnixMilli()})
	stolen.NodeID = alice.NodeID()
	otherAddr := names.Sign(alice, names.Record{Name: "desk", Address: fakeAddress(mallory.NodeID()), Issued: clk.t.UnixMilli(), Expires: clk.t.Add(time.Minute).UnixMilli()})
	for _, tt := range []struct {
		name string
		rec  names.Record
		want error
	}{
		{"changed after signing", forgedAddr, names.ErrSignature},
		{"signed by another key", stolen, names.ErrSignature},
		{"expired", record(alice, "desk", clk.t.Add(-time.Hour), time.Minute), names.ErrExpired},
		{"older than the registered one", record(alice, "laptop", clk.t.Add(-time.Second), 10*time.Minute), names.ErrStale},
		{"the same as the registered one", good, names.ErrStale},
		{"lives too long", record(alice, "desk", clk.t, 2*time.Hour), names.ErrTooLong},
		{"not a DNS label", record(alice, "Desk_1", clk.t, time.Minute), names.ErrRecord},
		{"another node's address", otherAddr, names.ErrRecord},
		{"issued in the future", record(alice, "desk", clk.t.Add(time.Hour), time.Minute), names.ErrRecord},
		{"no address", names.Sign(alice, names.Record{Name: "desk", Issued: clk.t.UnixMilli(), Expires: clk.t.Add(time.Minute).UnixMilli()}), names.ErrRecord},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := r.Register(tt.rec, ip1); !errors.Is(err, tt.want) {
				t.Errorf("Register: %v, want %v", err, tt.want)
			}
		})
	}
	if got, err := r.Lookup("laptop"); err != nil || got.Address != good.Address || r.Len() != 1 {
		t.Errorf("after the refusals: %+v %v (%d records), want the good record alone", got, err, r.Len())
	}
	if err := r.Drop(names.Sign(mallory, names.Record{Name: "laptop", Issued: clk.t.Add(time.Second).UnixMilli(), Expires: clk.t.Add(time.Minute).UnixMilli()})); !errors.Is(err, names.ErrTaken) {
		t.Errorf("a drop by another key: %v, want ErrTaken", err)
	}
	if err := r.Drop(names.Sign(alice, names.Record{Name: "laptop", Issued: clk.t.Add(time.Second).UnixMilli(), Expires: clk.t.Add(time.Minute).UnixMilli()})); err != nil {
		t.Errorf("the owner's drop: %v", err)
	}
	if _, err := r.Lookup("laptop"); !errors.Is(err, names.ErrNotFound) {
		t.Errorf("after the drop: %v, want ErrNotFound", err)
	}
}

// TestRegistryLimits: a key holds at most MaxPerKey names, a source IP
// registers at most MaxPerIP; an expired record stops counting.
func TestRegistryLimits(t *testing.T) {
	clk := &clock{time.Unix(1_800_000_000, 0)}
	r := names.NewRegistry(names.RegistryConfig{Now: clk.now, MaxPerKey: 2, MaxPerIP: 3})
	alice, bob, carol := mustID(t), mustID(t), mustID(t)
	reg := func(id *identity.Identity, name string, ip netip.Addr) error {
		return r.Register(record(id, name, clk.t, time.Minute), ip)
	}
	if err := reg(alice, "a1", ip1); err != nil {
		t.Fatal(err)
	}
	if err := reg(alice, "a2", ip2); err != nil {
		t.Fatal(err)
	}
	if err := reg(alice, "a3", ip2); !errors.Is(err, names.ErrKeyLimit) {
		t.Errorf("a third name for one key: %v, want ErrKeyLimit", err)
	}
	if err := reg(bob, "b1", ip1); err != nil {
		t.Fatal(err)
	}
	if err := reg(carol, "c1", ip1); err != nil {
		t.Fatal(err)
	}
	if err := reg(carol, "c2", ip1); !errors.Is(err, names.ErrIPLimit) || !strings.Contains(err.Error(), "3") {
		t.Errorf("a fourth name from one IP: %v, want ErrIPLimit", err)
	}
	if err := reg(carol, "c2", netip.MustParseAddr("::ffff:192.0.2.1")); !errors.Is(err, names.ErrIPLimit) {
		t.Errorf("the same IP, v4-mapped: %v, want ErrIPLimit", err)
	}
	if err := r.Register(record(alice, "a1", clk.t.Add(time.Second), time.Minute), ip1); err != nil {
		t.Errorf("a renewal at the limits: %v", err)
	}
	clk.t = clk.t.Add(2 * time.Minute) // all expired
	if err := reg(carol, "c2", ip1); err != nil {
		t.Errorf("after the records expired: %v", err)
	}
	if err := reg(alice, "a3", ip2); err != nil {
		t.Errorf("alice after her records expired: %v", err)
	}
}
