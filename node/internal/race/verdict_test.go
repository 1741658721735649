package race_test

import (
	"strings"
	"testing"

	"github.com/reachd/reachd/node/internal/race"
	"github.com/reachd/reachd/strategy"
)

func TestVerdict(t *testing.T) {
	failed := func(name, class string) race.Attempt {
		return race.Attempt{Name: name, Outcome: race.OutcomeFailed, Reason: "why", Class: class}
	}
	skipped := func(name, reason string) race.Attempt {
		return race.Attempt{Name: name, Outcome: race.OutcomeSkipped, Reason: reason}
	}
	tests := []struct {
		name     string
		attempts []race.Attempt
		want     string // the verdict's start
	}{
		{"peer down", []race.Attempt{
			failed("direct", strategy.ClassTimeout), failed("reverse", strategy.ClassNoReply),
			failed("punch", strategy.ClassNoReply), failed("relay", strategy.ClassNoReply)}, race.VerdictOffline},
		{"peer down, no TURN", []race.Attempt{
			failed("direct", strategy.ClassRefused), failed("reverse", strategy.ClassNoReply),
			skipped("punch", "no pair of interfaces can be punched"), skipped("relay", "no TURN server configured (--turn)")}, race.VerdictOffline},
		{"peer refused one", []race.Attempt{
			failed("direct", strategy.ClassTimeout), failed("reverse", strategy.ClassNoReply),
			{Name: "punch", Outcome: race.OutcomeFailed, Reason: "not allowed", Class: strategy.ClassPeerRefused}}, race.VerdictRefused + " (not allowed)"},
		{"wrong key", []race.Attempt{failed("direct", strategy.ClassWrongPeer)}, race.VerdictWrongPeer},
		{"peer answered, no path and no relay", []race.Attempt{
			failed("direct", strategy.ClassTimeout), failed("reverse", strategy.ClassTimeout),
			failed("punch", strategy.ClassTimeout), skipped("relay", "no TURN server configured (--turn)")}, race.VerdictNoRelay},
		{"relay unavailable", []race.Attempt{
			failed("punch", strategy.ClassOther), failed("relay", strategy.ClassUnavailable)}, race.VerdictNoRelay},
		{"relay too failed", []race.Attempt{
			failed("direct", strategy.ClassTimeout), failed("punch", strategy.ClassOther), failed("relay", strategy.ClassTimeout)}, race.VerdictTimedOut},
		{"time ran out before the relay", []race.Attempt{
			failed("direct", strategy.ClassRefused), skipped("relay", race.SkippedTimeout)}, race.VerdictTimedOut},
		{"direct only, refused", []race.Attempt{failed("direct", strategy.ClassRefused)}, race.VerdictNoPath + " (direct: refused)"},
		{"nothing could be tried", []race.Attempt{skipped("direct", "no interface")}, race.VerdictNoPath + ": none could be tried"},
		{"no attempts", nil, race.VerdictNoPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := race.Verdict(tt.attempts); !strings.HasPrefix(got, tt.want) {
				t.Errorf("Verdict = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestErrorVerdict: a connect that made no attempts of its own gives its
// reason as the verdict.
func TestErrorVerdict(t *testing.T) {
	e := &race.Error{Peer: "p", Reason: "another connect's race"}
	if got := e.Verdict(); got != "another connect's race" {
		t.Errorf("Verdict = %q", got)
	}
}
