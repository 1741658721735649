package strategy_test

import (
	"testing"

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
