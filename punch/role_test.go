package punch_test

import (
	"testing"
	"time"

	"github.com/reachd/reachd/punch"
)

func TestRole(t *testing.T) {
	t.Parallel()
	a := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	b := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"
	tests := []struct {
		name        string
		local, peer string
		want        punch.TLSRole
	}{
		{"smaller is client", a, b, punch.RoleClient},
		{"larger is server", b, a, punch.RoleServer},
		{"digits sort before letters", "2" + a[1:], a, punch.RoleClient},
		{"same id has no role", a, a, punch.RoleNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := punch.Role(tt.local, tt.peer); got != tt.want {
				t.Errorf("Role = %s, want %s", got, tt.want)
			}
			// The two sides must always disagree, or both have no role.
			mine, theirs := punch.Role(tt.local, tt.peer), punch.Role(tt.peer, tt.local)
			if mine == theirs && mine != punch.RoleNone {
				t.Errorf("both sides are %s", mine)
			}
		})
	}
}

func TestTLSRoleString(t *testing.T) {
	t.Parallel()
	for r, want := range map[punch.TLSRole]string{punch.RoleNone: "none", punch.RoleClient: "client", punch.RoleServer: "server"} {
		if got := r.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(r), got, want)
		}
	}
}

func TestMeetingTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		rtt  time.Duration
		want time.Duration
	}{
		{"no rtt gets the minimum", 0, 100 * time.Millisecond},
		{"tiny rtt gets the minimum", 10 * time.Millisecond, 100 * time.Millisecond},
		{"rtt at the minimum", 50 * time.Millisecond, 100 * time.Millisecond},
		{"lan-ish rtt", 80 * time.Millisecond, 130 * time.Millisecond},
		{"internet rtt", 120 * time.Millisecond, 170 * time.Millisecond},
		{"margin still fixed", 200 * time.Millisecond, 250 * time.Millisecond},
		{"geostationary", 600 * time.Millisecond, 750 * time.Millisecond},
		{"slow broker", 900 * time.Millisecond, 1125 * time.Millisecond},
		{"negative rtt counts as zero", -time.Second, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := punch.MeetingTime(now, tt.rtt).Sub(now); got != tt.want {
				t.Errorf("MeetingTime(now, %s) = now+%s, want now+%s", tt.rtt, got, tt.want)
			}
		})
	}
}
