package node

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestDebouncer(t *testing.T) {
	type run struct {
		at      time.Duration
		reasons []string
	}
	tests := []struct {
		name     string
		triggers map[time.Duration]string // at -> reason
		want     []run
	}{
		{"one", map[time.Duration]string{0: "a"}, []run{{250 * time.Millisecond, []string{"a"}}}},
		{"a burst is one run, after the last", map[time.Duration]string{
			0: "addr", 100 * time.Millisecond: "route", 200 * time.Millisecond: "addr",
		}, []run{{450 * time.Millisecond, []string{"addr", "route"}}}},
		{"a long burst runs at most after the first", map[time.Duration]string{
			0: "a", 200 * time.Millisecond: "a", 400 * time.Millisecond: "a", 600 * time.Millisecond: "a", 800 * time.Millisecond: "a",
			900 * time.Millisecond: "b", 1100 * time.Millisecond: "c",
		}, []run{{time.Second, []string{"a", "b"}}, {1350 * time.Millisecond, []string{"c"}}}},
		{"apart, two runs", map[time.Duration]string{0: "a", time.Second: "b"},
			[]run{{250 * time.Millisecond, []string{"a"}}, {1250 * time.Millisecond, []string{"b"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newDebouncer(250*time.Millisecond, time.Second)
				ctx, cancel := context.WithCancel(t.Context())
				start := time.Now()
				var got []run
				done := make(chan struct{})
				go func() {
					defer close(done)
					d.run(ctx, func(reasons []string, _ time.Time) {
						got = append(got, run{time.Since(start), reasons})
					})
				}()
				var ats []time.Duration
				for at := range tt.triggers {
					ats = append(ats, at)
				}
				slices.Sort(ats)
				for _, at := range ats {
					time.Sleep(at - time.Since(start))
					d.trigger(tt.triggers[at])
				}
				time.Sleep(5 * time.Second)
				cancel()
				<-done
				if len(got) != len(tt.want) {
					t.Fatalf("runs %v, want %v", got, tt.want)
				}
				for i := range got {
					if got[i].at != tt.want[i].at || !slices.Equal(got[i].reasons, tt.want[i].reasons) {
						t.Errorf("run %d: %v, want %v", i, got[i], tt.want[i])
					}
				}
			})
		})
	}
}

// TestDebouncerTriggerWhileRunning: a trigger during a run makes one more.
func TestDebouncerTriggerWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDebouncer(100*time.Millisecond, time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		runs := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			d.run(ctx, func(reasons []string, _ time.Time) {
				runs++
				if runs == 1 {
					d.trigger("during")
					time.Sleep(time.Second) // a probe takes a while
				}
			})
		}()
		d.trigger("first")
		time.Sleep(5 * time.Second)
		cancel()
		<-done
		if runs != 2 {
			t.Errorf("%d runs, want 2", runs)
		}
	})
}
