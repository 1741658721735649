package strategy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/strategy"
)

// TestPlanBirthday: with birthday punching on, a pair of a random-port NAT
// and a predictable one gets the punch as possible (in either direction);
// two random NATs, or birthday punching off, leave it skipped; a pair a
// plain punch serves stays likely.
func TestPlanBirthday(t *testing.T) {
	hardA := host(nodeA, 1, address.NATSymmetric, address.DeltaRandom)
	hardB := host(nodeB, 2, address.NATSymmetric, address.DeltaRandom)
	easyA := host(nodeA, 1, address.NATPortRestrictedCone, address.DeltaEqual)
	easyB := host(nodeB, 2, address.NATPortRestrictedCone, address.DeltaEqual)
	for _, tt := range []struct {
		name       string
		self, peer address.Address
		birthday   bool
		skip       bool
		chance     strategy.Chance
	}{
		{"hard to easy", hardA, easyB, true, false, strategy.Possible},
		{"easy to hard", easyA, hardB, true, false, strategy.Possible},
		{"hard to easy, birthday off", hardA, easyB, false, true, 0},
		{"hard to hard", hardA, hardB, true, true, 0},
		{"easy to easy", easyA, easyB, true, false, strategy.Likely},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, st := range strategy.Plan(tt.self, tt.peer, strategy.PlanConfig{TURN: true, Birthday: tt.birthday}) {
				if st.Strategy.Name() != strategy.Punch {
					continue
				}
				if (st.Skip != "") != tt.skip || (!tt.skip && st.Chance != tt.chance) {
					t.Errorf("punch: skip %q, chance %v; want skipped %v, chance %v", st.Skip, st.Chance, tt.skip, tt.chance)
				}
			}
		})
	}
}

// birthdayEnv is fakeEnv with birthday punching on; busy: another birthday
// punch runs.
type birthdayEnv struct {
	fakeEnv
	busy bool
}

func (e *birthdayEnv) Birthday() strategy.Birthday { return strategy.Birthday{} }
func (e *birthdayEnv) BeginBirthday(context.Context) (func(), bool) {
	return func() {}, !e.busy
}

// TestBirthdayRequestRefused: a birthday request is refused, before any
// reply or SYN, by a node with birthday punching off, by a node that is
// not the pair's other half (hard to hard), by one that runs another
// birthday punch, and when its endpoint is not the sender's; an unknown
// mode is a bad request.
func TestBirthdayRequestRefused(t *testing.T) {
	hardSender := host(nodeB, 2, address.NATSymmetric, address.DeltaRandom)
	ext := hardSender.IPv4[0].ExternalIP
	off := &fakeEnv{self: host(nodeA, 1, address.NATPortRestrictedCone, address.DeltaEqual)}
	hardOn := &birthdayEnv{fakeEnv: fakeEnv{self: host(nodeA, 1, address.NATSymmetric, address.DeltaRandom)}}
	easyOn := &birthdayEnv{fakeEnv: fakeEnv{self: host(nodeA, 1, address.NATPortRestrictedCone, address.DeltaEqual)}}
	easyBusy := &birthdayEnv{fakeEnv: fakeEnv{self: host(nodeA, 1, address.NATPortRestrictedCone, address.DeltaEqual)}, busy: true}
	for _, tt := range []struct {
		name     string
		env      strategy.Env
		endpoint string
		mode     string
		want     error
	}{
		{"birthday off", off, ext.String() + ":0", "birthday", strategy.ErrUnpunchable},
		{"hard to hard", hardOn, ext.String() + ":0", "birthday", strategy.ErrUnpunchable},
		{"busy", easyBusy, ext.String() + ":0", "birthday", strategy.ErrBirthdayBusy},
		{"not the sender's IP", easyOn, "198.51.100.7:0", "birthday", strategy.ErrForbiddenTarget},
		{"unknown mode", easyOn, ext.String() + ":0", "lottery", strategy.ErrBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := map[string]any{"session": strings.Repeat("ab", 16), "address": hardSender.String(),
				"endpoint": tt.endpoint, "at_ms": time.Now().Add(time.Second).UnixMilli(), "mode": tt.mode}
			_, err := responder(t, strategy.Punch).Respond(context.Background(), tt.env, message(t, "punch", nodeB, body))
			if !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
		})
	}
	for _, e := range []*fakeEnv{off, &hardOn.fakeEnv, &easyOn.fakeEnv, &easyBusy.fakeEnv} {
		if n := e.replies.Load(); n != 0 {
			t.Errorf("%d replies sent, want none", n)
		}
	}
}
