package clock_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/beevik/ntp"

	"github.com/reachd/reachd/clock"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// answer makes a response that passes ntp.Response.Validate.
func answer(off time.Duration) *ntp.Response {
	return &ntp.Response{
		ClockOffset:    off,
		RTT:            10 * time.Millisecond,
		Version:        4,
		Stratum:        2,
		Leap:           ntp.LeapNoWarning,
		Time:           t0,
		ReferenceTime:  t0.Add(-time.Minute),
		RootDelay:      20 * time.Millisecond,
		RootDispersion: 5 * time.Millisecond,
	}
}

// reply is one server's scripted reply: a response or an error.
type reply struct {
	resp *ntp.Response
	err  error
}

func ok(off time.Duration) reply { return reply{resp: answer(off)} }

func bad(f func(*ntp.Response)) reply {
	r := answer(time.Hour) // an offset that must never be used
	f(r)
	return reply{resp: r}
}

// scripted returns a Query answering by server name, and records the
// options it was called with.
func scripted(replies map[string]reply, seen *sync.Map) clock.QueryFunc {
	return func(server string, opt ntp.QueryOptions) (*ntp.Response, error) {
		if seen != nil {
			seen.Store(server, opt)
		}
		r, found := replies[server]
		if !found {
			return nil, fmt.Errorf("no script for %s", server)
		}
		return r.resp, r.err
	}
}

func TestSync(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		replies  []reply
		want     time.Duration
		answered int
		wantErrs []error // for the no-answer case, one per server
	}{
		{name: "one server", replies: []reply{ok(-42 * ms)}, want: -42 * ms, answered: 1},
		{name: "median of three", replies: []reply{ok(5 * ms), ok(-100 * ms), ok(7 * ms)}, want: 5 * ms, answered: 3},
		{name: "mean of middle two", replies: []reply{ok(20 * ms), ok(10 * ms)}, want: 15 * ms, answered: 2},
		{name: "outlier ignored", replies: []reply{ok(1 * ms), ok(10 * time.Hour), ok(3 * ms), ok(2 * ms), ok(2 * ms)}, want: 2 * ms, answered: 5},
		{name: "mean rounds down", replies: []reply{ok(-3), ok(0)}, want: -2, answered: 2},
		{
			name: "invalid answers dropped",
			replies: []reply{
				ok(4 * ms),
				bad(func(r *ntp.Response) { r.Stratum = 0; r.KissCode = "RATE" }),
				bad(func(r *ntp.Response) { r.Leap = ntp.LeapNotInSync }),
				bad(func(r *ntp.Response) { r.Stratum = 16 }),
				bad(func(r *ntp.Response) { r.RootDispersion = 20 * time.Second }),
				bad(func(r *ntp.Response) { r.ReferenceTime = t0.Add(-48 * time.Hour) }),
				{err: errors.New("i/o timeout")},
				ok(6 * ms),
			},
			want: 5 * ms, answered: 2,
		},
		{
			name: "none valid",
			replies: []reply{
				bad(func(r *ntp.Response) { r.Stratum = 0; r.KissCode = "DENY" }),
				{err: errors.New("connection refused")},
				bad(func(r *ntp.Response) { r.Leap = ntp.LeapNotInSync }),
			},
			wantErrs: []error{ntp.ErrKissOfDeath, nil, ntp.ErrInvalidLeapSecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			replies := map[string]reply{}
			var servers []string
			for i, r := range tt.replies {
				s := fmt.Sprintf("ntp%d.test:123", i+1)
				servers = append(servers, s)
				replies[s] = r
			}
			var seen sync.Map
			c, err := clock.New(clock.Config{
				Servers: servers,
				Query:   scripted(replies, &seen),
				Now:     func() time.Time { return t0 },
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Sync(t.Context())
			st := c.Status()
			for _, s := range servers {
				opt, asked := seen.Load(s)
				if !asked {
					t.Errorf("server %s not asked", s)
				} else if opt.(ntp.QueryOptions).Timeout != clock.DefaultTimeout {
					t.Errorf("server %s asked with timeout %v, want %v", s, opt.(ntp.QueryOptions).Timeout, clock.DefaultTimeout)
				}
			}
			if st.Asked != len(servers) || st.Answered != tt.answered {
				t.Errorf("status answered/asked = %d/%d, want %d/%d", st.Answered, st.Asked, tt.answered, len(servers))
			}

			if tt.wantErrs != nil {
				var nae *clock.NoAnswerError
				if !errors.As(err, &nae) || !errors.Is(err, clock.ErrNoAnswer) {
					t.Fatalf("err = %v, want a NoAnswerError", err)
				}
				if len(nae.Failures) != len(servers) {
					t.Fatalf("%d failures listed, want %d", len(nae.Failures), len(servers))
				}
				for i, f := range nae.Failures {
					if f.Server != servers[i] || !strings.Contains(err.Error(), servers[i]) {
						t.Errorf("failure %d is for %s, want %s named in %q", i, f.Server, servers[i], err)
					}
					if tt.wantErrs[i] != nil && !errors.Is(f, tt.wantErrs[i]) {
						t.Errorf("failure %d = %v, want %v", i, f, tt.wantErrs[i])
					}
				}
				if !errors.Is(err, ntp.ErrKissOfDeath) {
					t.Errorf("errors.Is(err, ntp.ErrKissOfDeath) is false for %v", err)
				}
				if st.LastError != err.Error() || !st.LastSync.IsZero() || st.Offset != 0 || c.Offset() != 0 {
					t.Errorf("status after failure = %+v", st)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if got != tt.want || c.Offset() != tt.want || st.Offset != tt.want {
				t.Errorf("offset: Sync %v, Offset %v, Status %v; want %v", got, c.Offset(), st.Offset, tt.want)
			}
			if !st.LastSync.Equal(t0) || st.LastError != "" {
				t.Errorf("status = %+v, want LastSync %v and no error", st, t0)
			}
			if now := c.Now(); !now.Equal(t0.Add(tt.want)) {
				t.Errorf("Now() = %v, want %v", now, t0.Add(tt.want))
			}
		})
	}
}

func TestFailedSyncKeepsOffset(t *testing.T) {
	healthy := true
	now := t0
	c, err := clock.New(clock.Config{
		Servers: []string{"a", "b"},
		Now:     func() time.Time { return now },
		Query: func(server string, _ ntp.QueryOptions) (*ntp.Response, error) {
			if !healthy {
				return nil, errors.New("unreachable")
			}
			return answer(250 * time.Millisecond), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	healthy = false
	now = t0.Add(time.Hour)
	if _, err := c.Sync(t.Context()); !errors.Is(err, clock.ErrNoAnswer) {
		t.Fatalf("second Sync err = %v, want ErrNoAnswer", err)
	}
	st := c.Status()
	want := clock.Status{
		Offset:    250 * time.Millisecond,
		Answered:  0,
		Asked:     2,
		LastSync:  t0,
		LastError: "clock: no ntp server answered: a: query: unreachable; b: query: unreachable",
	}
	if st != want {
		t.Fatalf("status = %+v\nwant     %+v", st, want)
	}
	if got := c.Now(); !got.Equal(now.Add(250 * time.Millisecond)) {
		t.Errorf("Now() = %v, want the old offset applied", got)
	}
}

func TestServersAskedConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		var arrived atomic.Int32
		all := make(chan struct{})
		c, err := clock.New(clock.Config{
			Servers: []string{"a", "b", "c", "d"},
			Timeout: time.Second,
			Query: func(server string, opt ntp.QueryOptions) (*ntp.Response, error) {
				if arrived.Add(1) == n {
					close(all)
				}
				// Answer only once every server has been asked: a
				// sequential Sync would time out here instead.
				select {
				case <-all:
					return answer(time.Millisecond), nil
				case <-time.After(opt.Timeout):
					return nil, errors.New("timeout waiting for the other queries")
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		if st := c.Status(); st.Answered != n {
			t.Fatalf("answered %d of %d", st.Answered, n)
		}
	})
}

func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var calls []time.Duration
		c, err := clock.New(clock.Config{
			Servers: []string{"a"},
			Query: func(string, ntp.QueryOptions) (*ntp.Response, error) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, time.Since(start))
				if len(calls) <= 3 {
					return nil, errors.New("not yet")
				}
				return answer(time.Duration(len(calls)) * time.Millisecond), nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { c.Run(ctx, time.Minute) })

		time.Sleep(7*time.Second + 2*time.Minute + time.Second)
		synctest.Wait()
		cancel()
		wg.Wait()

		// Fails at 0s, then retries after 1s, 2s, 4s; then every minute.
		want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second,
			7*time.Second + time.Minute, 7*time.Second + 2*time.Minute}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(calls) != fmt.Sprint(want) {
			t.Fatalf("queries at %v, want %v", calls, want)
		}
		if got := c.Offset(); got != 6*time.Millisecond {
			t.Errorf("offset %v, want the last answer's 6ms", got)
		}
	})
}

func TestRunStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := clock.New(clock.Config{Servers: []string{"a"}, Query: scripted(map[string]reply{"a": ok(0)}, nil)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		c.Run(ctx, 0) // returns at once; a leaked timer or goroutine fails the bubble
		if st := c.Status(); st.Asked != 0 {
			t.Errorf("Run with a done context queried servers: %+v", st)
		}
	})
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  clock.Config
		want string
	}{
		{"no servers", clock.Config{}, "no ntp servers"},
		{"empty server", clock.Config{Servers: []string{"a", ""}}, "server 2 is empty"},
		{"negative timeout", clock.Config{Servers: []string{"a"}, Timeout: -time.Second}, "negative timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := clock.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New err = %v, want %q", err, tt.want)
			}
		})
	}
	c, err := clock.New(clock.Config{Servers: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st != (clock.Status{}) || c.Offset() != 0 {
		t.Fatalf("fresh clock status %+v", st)
	}
}

// silentServer is a UDP socket on loopback that reads NTP queries and never
// answers. Each received query is announced on the returned channel.
func silentServer(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case got <- struct{}{}:
			default:
			}
		}
	})
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String(), got
}

func TestRealQueryTimeout(t *testing.T) {
	srv, _ := silentServer(t)
	c, err := clock.New(clock.Config{Servers: []string{srv}, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Sync(t.Context())
	var nae *clock.NoAnswerError
	if !errors.As(err, &nae) || len(nae.Failures) != 1 || nae.Failures[0].Server != srv {
		t.Fatalf("err = %v, want a NoAnswerError for %s", err, srv)
	}
	var ne net.Error
	timedOut := errors.As(err, &ne) && ne.Timeout()
	if !timedOut && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a timeout", err)
	}
}

func TestSyncHonoursCancel(t *testing.T) {
	srv, got := silentServer(t)
	// The per-query timeout is far away: only the cancellation can end Sync soon.
	c, err := clock.New(clock.Config{Servers: []string{srv}, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.Sync(ctx)
		done <- err
	}()
	<-got // the query is in flight
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second): // a hang guard, not a speed check
		t.Fatal("Sync did not return after its context was cancelled")
	}
}
