package portmap

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// fakeGateway is a mapping server behind fake clients: it keeps the
// mappings it granted and an epoch that restart sets back.
type fakeGateway struct {
	mu        sync.Mutex
	external  netip.Addr
	started   time.Time
	mappings  map[uint16]bool // external ports mapped
	maps      []time.Time     // when each Map call came, renewals included
	renewals  int
	unmaps    int
	forwards  bool // whether a mapping reaches the listener (Confirm)
	failNext  bool // the next Map fails
	confirms  int
	checks    int // Alive calls
	answering map[Protocol]bool
}

func newFakeGateway() *fakeGateway {
	return &fakeGateway{
		external: netip.MustParseAddr("203.0.113.11"), started: time.Now(),
		mappings: map[uint16]bool{}, forwards: true,
		answering: map[Protocol]bool{PCP: true, NATPMP: true, UPnP: true},
	}
}

// counts reads the gateway's counters.
func (g *fakeGateway) counts() (maps, renewals, unmaps, confirms int, mapped bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.maps), g.renewals, g.unmaps, g.confirms, g.mappings[40000]
}

// restart loses the mappings and resets the epoch.
func (g *fakeGateway) restart() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mappings = map[uint16]bool{}
	g.started = time.Now()
}

type fakeClient struct {
	proto Protocol
	g     *fakeGateway
	probe time.Duration // how long Probe takes
}

func (c *fakeClient) Protocol() Protocol { return c.proto }

func (c *fakeClient) Probe(ctx context.Context) error {
	select {
	case <-time.After(c.probe):
	case <-ctx.Done():
		return ctx.Err()
	}
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	if !c.g.answering[c.proto] {
		return errors.New("no answer")
	}
	return nil
}

func (c *fakeClient) Map(_ context.Context, req request) (Mapping, error) {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	c.g.maps = append(c.g.maps, time.Now())
	if req.Prev != nil {
		c.g.renewals++
	}
	if c.g.failNext {
		c.g.failNext = false
		return Mapping{}, errors.New("refused")
	}
	c.g.mappings[req.External] = true
	return Mapping{
		Protocol: c.proto, Transport: req.Transport, Internal: req.Internal,
		External: netip.AddrPortFrom(c.g.external, req.External), Lease: req.Lease, At: time.Now(),
		Epoch: uint32(time.Since(c.g.started) / time.Second), HasEpoch: c.proto != UPnP,
	}, nil
}

func (c *fakeClient) Unmap(_ context.Context, m Mapping) error {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	c.g.unmaps++
	delete(c.g.mappings, m.External.Port())
	return nil
}

func (c *fakeClient) Alive(_ context.Context, m Mapping) error {
	c.g.mu.Lock()
	defer c.g.mu.Unlock()
	c.g.checks++
	if !c.g.mappings[m.External.Port()] {
		return ErrLost
	}
	return nil
}

// confirm is the fake dial-back: it reaches the listener when the gateway
// has the mapping and forwards.
func (g *fakeGateway) confirm(_ context.Context, _ netip.Addr, ext netip.AddrPort) (netip.AddrPort, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.confirms++
	return netip.AddrPortFrom(g.external, ext.Port()), g.forwards && g.mappings[ext.Port()], nil
}

const testLease = 10 * time.Second

// startMapper runs a Mapper against g until the test ends.
func startMapper(t *testing.T, g *fakeGateway, gw func() (Gateway, error)) *Mapper {
	t.Helper()
	if gw == nil {
		gw = func() (Gateway, error) {
			return Gateway{IP: netip.MustParseAddr("10.1.0.1"), Local: netip.MustParseAddr("10.1.0.2")}, nil
		}
	}
	m, err := New(Config{
		Port: 40000, Lease: testLease, Confirm: g.confirm, Gateway: gw,
		clients: func(Gateway) []client {
			return []client{
				&fakeClient{PCP, g, 100 * time.Millisecond},
				&fakeClient{NATPMP, g, 10 * time.Millisecond},
				&fakeClient{UPnP, g, 2 * time.Second},
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		m.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return m
}

func wantStatus(t *testing.T, m *Mapper, proto Protocol, confirmed bool) Status {
	t.Helper()
	st, ok := m.Status()
	if !ok || st.Protocol != proto || st.Confirmed != confirmed || st.External != netip.MustParseAddrPort("203.0.113.11:40000") {
		t.Fatalf("status %+v (mapped %v), want %s confirmed=%v on 203.0.113.11:40000", st, ok, proto, confirmed)
	}
	return st
}

func TestPreference(t *testing.T) {
	for _, tt := range []struct {
		name      string
		answering []Protocol
		want      Protocol
		after     time.Duration // when the mapping is confirmed
	}{
		{"pcp first, upnp not waited for", []Protocol{PCP, NATPMP, UPnP}, PCP, 100 * time.Millisecond},
		{"nat-pmp without pcp", []Protocol{NATPMP, UPnP}, NATPMP, 100 * time.Millisecond},
		{"upnp alone", []Protocol{UPnP}, UPnP, 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newFakeGateway()
				g.answering = map[Protocol]bool{}
				for _, p := range tt.answering {
					g.answering[p] = true
				}
				start := time.Now()
				m := startMapper(t, g, nil)
				synctest.Wait()
				if _, ok := m.Status(); ok {
					t.Fatal("mapped before any probe answered")
				}
				time.Sleep(tt.after)
				synctest.Wait()
				wantStatus(t, m, tt.want, true)
				if maps, _, _, _, _ := g.counts(); maps != 1 {
					t.Errorf("%d map requests, want 1 (by the preferred protocol only)", maps)
				}
				t.Logf("confirmed after %v", time.Since(start))
			})
		})
	}
}

// TestRenewal: renewed at half the lease and checked after each renewal;
// a gateway that restarts (mappings gone, epoch back) is mapped again at
// the next renewal; a renewal that fails makes a new mapping at once;
// the mapping is deleted when Run ends.
func TestRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newFakeGateway()
		ctx, cancel := context.WithCancel(t.Context())
		m, err := New(Config{Port: 40000, Lease: testLease, Confirm: g.confirm,
			Gateway: func() (Gateway, error) {
				return Gateway{IP: netip.MustParseAddr("10.1.0.1"), Local: netip.MustParseAddr("10.1.0.2")}, nil
			},
			clients: func(Gateway) []client { return []client{&fakeClient{PCP, g, 0}} },
		})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		synctest.Wait()
		start := time.Now()
		wantStatus(t, m, PCP, true)

		time.Sleep(testLease/2 - time.Millisecond)
		synctest.Wait()
		if _, renewals, _, _, _ := g.counts(); renewals != 0 {
			t.Fatalf("renewed %d times before half the lease", renewals)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if _, renewals, _, confirms, _ := g.counts(); renewals != 1 || confirms != 2 {
			t.Fatalf("at half the lease: %d renewals, %d checks; want 1 and 2", renewals, confirms)
		}
		st := wantStatus(t, m, PCP, true)
		if want := start.Add(testLease/2 + testLease); !st.ExpiresAt.Equal(want) {
			t.Errorf("expires at %v, want %v", st.ExpiresAt, want)
		}

		// The gateway restarts: its mappings are gone until the next
		// renewal, which makes the mapping again (and a check confirms it).
		g.restart()
		time.Sleep(testLease / 2)
		synctest.Wait()
		if _, renewals, _, _, mapped := g.counts(); !mapped || renewals != 2 {
			t.Fatalf("after a restart and one renewal: mapped %v, %d renewals", mapped, renewals)
		}
		wantStatus(t, m, PCP, true)

		// A renewal that fails: a new mapping at once.
		g.mu.Lock()
		g.failNext = true
		g.mu.Unlock()
		time.Sleep(testLease / 2)
		synctest.Wait()
		if maps, _, _, _, mapped := g.counts(); maps != 5 || !mapped {
			t.Fatalf("after a failed renewal: %d map requests (want 5: first, 2 renewals, the failed one, a new one)", maps)
		}
		wantStatus(t, m, PCP, true)

		// Renewed but no longer forwarding: not confirmed, and made anew.
		g.mu.Lock()
		g.forwards = false
		g.mu.Unlock()
		time.Sleep(testLease / 2)
		synctest.Wait()
		st, _ = m.Status()
		if _, _, unmaps, _, _ := g.counts(); st.Confirmed || st.Reason == "" || unmaps != 1 {
			t.Fatalf("renewed without forwarding: status %+v, %d unmaps; want unconfirmed with a reason, made anew", st, unmaps)
		}

		cancel()
		<-done
		if _, _, unmaps, _, mapped := g.counts(); mapped || unmaps != 2 {
			t.Errorf("after Run: mapped %v, %d unmaps; want none left", mapped, unmaps)
		}
		if _, ok := m.Status(); ok {
			t.Error("status still mapped after Run")
		}
	})
}

func TestNotAdvertisedBehindAnotherNAT(t *testing.T) {
	for _, tt := range []struct {
		name     string
		external string
		dialed   string
		checks   int
	}{
		{"private external address", "192.168.1.2", "", 0},
		{"carrier-grade external address", "100.64.3.4", "", 0},
		{"dial-back came from another address", "203.0.113.11", "198.51.100.7", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := newFakeGateway()
				g.external = netip.MustParseAddr(tt.external)
				var checks atomic.Int32
				m, err := New(Config{Port: 40000, Lease: testLease,
					Confirm: func(_ context.Context, _ netip.Addr, ext netip.AddrPort) (netip.AddrPort, bool, error) {
						checks.Add(1)
						return netip.AddrPortFrom(netip.MustParseAddr(tt.dialed), ext.Port()), true, nil
					},
					Gateway: func() (Gateway, error) {
						return Gateway{IP: netip.MustParseAddr("10.1.0.1"), Local: netip.MustParseAddr("10.1.0.2")}, nil
					},
					clients: func(Gateway) []client { return []client{&fakeClient{NATPMP, g, 0}} },
				})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() { m.Run(ctx); close(done) }()
				synctest.Wait()
				st, ok := m.Status()
				if !ok || st.Confirmed || st.Reason == "" || int(checks.Load()) != tt.checks {
					t.Errorf("status %+v (mapped %v) after %d checks: want mapped, not confirmed, with a reason, after %d", st, ok, checks.Load(), tt.checks)
				}
				// Renewed as usual, and not made anew each time: it was
				// never reachable.
				time.Sleep(testLease / 2)
				synctest.Wait()
				if _, renewals, unmaps, _, _ := g.counts(); renewals != 1 || unmaps != 0 {
					t.Errorf("after half the lease: %d renewals, %d unmaps; want 1 and 0", renewals, unmaps)
				}
				if st, _ := m.Status(); st.Confirmed {
					t.Errorf("status %+v after the renewal, want still not confirmed", st)
				}
				cancel()
				<-done
			})
		})
	}
}

func TestGatewayChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newFakeGateway()
		var mu sync.Mutex
		gw := Gateway{IP: netip.MustParseAddr("10.1.0.1"), Local: netip.MustParseAddr("10.1.0.2")}
		m := startMapper(t, g, func() (Gateway, error) {
			mu.Lock()
			defer mu.Unlock()
			return gw, nil
		})
		time.Sleep(time.Second)
		synctest.Wait()
		wantStatus(t, m, PCP, true)
		mu.Lock()
		gw = Gateway{IP: netip.MustParseAddr("10.2.0.1"), Local: netip.MustParseAddr("10.2.0.2")}
		mu.Unlock()
		time.Sleep(30 * time.Second) // GatewayEvery
		synctest.Wait()
		st := wantStatus(t, m, PCP, true)
		if _, _, unmaps, _, _ := g.counts(); st.Local != gw.Local || unmaps != 1 {
			t.Errorf("after a gateway change: status %+v, %d unmaps; want mapped from %v, the old one deleted", st, unmaps, gw.Local)
		}
	})
}

// TestRestartFoundBetweenRenewals: with a long lease, a gateway that loses
// the mapping is found by the check every GatewayEvery, and the mapping
// is made again then, not at the renewal half an hour later.
func TestRestartFoundBetweenRenewals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newFakeGateway()
		m, err := New(Config{Port: 40000, Lease: time.Hour, GatewayEvery: 30 * time.Second, Confirm: g.confirm,
			Gateway: func() (Gateway, error) {
				return Gateway{IP: netip.MustParseAddr("10.1.0.1"), Local: netip.MustParseAddr("10.1.0.2")}, nil
			},
			clients: func(Gateway) []client { return []client{&fakeClient{NATPMP, g, 0}} },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { m.Run(ctx); close(done) }()
		synctest.Wait()
		wantStatus(t, m, NATPMP, true)

		time.Sleep(time.Minute) // two checks, nothing lost
		synctest.Wait()
		if maps, _, _, _, _ := g.counts(); maps != 1 {
			t.Fatalf("%d map requests while the gateway held the mapping, want 1", maps)
		}
		g.restart()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		maps, renewals, _, confirms, mapped := g.counts()
		if !mapped || maps != 2 || renewals != 1 || confirms != 2 {
			t.Fatalf("30s after the gateway lost the mapping: mapped %v, %d map requests, %d renewals, %d checks; want mapped again and confirmed", mapped, maps, renewals, confirms)
		}
		wantStatus(t, m, NATPMP, true)
		cancel()
		<-done
	})
}
