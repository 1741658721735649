package keyrate_test

import (
	"fmt"
	"testing"

	"github.com/reachd/reachd/internal/keyrate"
)

// TestPerKeyAndGlobal: a key gets its burst and then nothing; another key
// gets its own; all keys together stop at the global burst.
func TestPerKeyAndGlobal(t *testing.T) {
	l := keyrate.New[string](keyrate.Config{PerKey: 0.001, PerKeyBurst: 3, Global: 0.001, GlobalBurst: 5, MaxKeys: 100})
	allowed := func(k string, n int) int {
		got := 0
		for range n {
			if l.Allow(k) {
				got++
			}
		}
		return got
	}
	if got := allowed("a", 10); got != 3 {
		t.Errorf("key a: %d of 10 allowed, want its burst of 3", got)
	}
	if got := allowed("b", 10); got != 2 {
		t.Errorf("key b: %d of 10 allowed, want the 2 left of the global burst of 5", got)
	}
}

// TestKeysStayBounded: a flood of fresh keys never keeps more than MaxKeys
// buckets.
func TestKeysStayBounded(t *testing.T) {
	l := keyrate.New[string](keyrate.Config{PerKey: 1, PerKeyBurst: 1, Global: 1e9, GlobalBurst: 1 << 30, MaxKeys: 64})
	for i := range 10000 {
		if !l.Allow(fmt.Sprint(i)) {
			t.Fatalf("fresh key %d refused", i)
		}
		if n := l.Len(); n > 64 {
			t.Fatalf("%d buckets after %d keys, want at most 64", n, i+1)
		}
	}
}
