package peerlink

import (
	"testing"
	"time"
)

// TestUpgradeSchedule: upgrade attempts are due 1 s, 5 s and 30 s after
// the path started, then every 60 s, however long each attempt takes.
func TestUpgradeSchedule(t *testing.T) {
	want := []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 90 * time.Second, 150 * time.Second}
	for i, w := range want {
		if got := upgradeAt(i); got != w {
			t.Errorf("attempt %d due at %v, want %v", i, got, w)
		}
	}
}
