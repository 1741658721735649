package race

import (
	"fmt"
	"strings"
)

// Attempt outcomes. An attempt reported as it starts says "trying".
const (
	OutcomeTrying    = "trying"
	OutcomeOK        = "ok"
	OutcomeFailed    = "failed"
	OutcomeSkipped   = "skipped"   // not tried: the plan says it cannot work, or time ran out first
	OutcomeCancelled = "cancelled" // stopped because another strategy won
)

// Attempt is one strategy's part in a connect's race.
type Attempt struct {
	Name    string `json:"name"`    // the strategy
	Outcome string `json:"outcome"` // see the Outcome constants
	Reason  string `json:"reason,omitempty"`
	// Class sorts a failure (see strategy.Class).
	Class string `json:"class,omitempty"`
	// Chance is the plan's judgement: likely, possible or unlikely.
	Chance string `json:"chance,omitempty"`
	// MS is how long it ran; StartedMS and FinishedMS are offsets from
	// the start of the connect.
	MS         int64 `json:"ms"`
	StartedMS  int64 `json:"started_ms"`
	FinishedMS int64 `json:"finished_ms"`
	// Steps is its timeline: the moments it passed (strategy.Mark
	// constants), in order.
	Steps []Step `json:"steps,omitempty"`
}

// Step is one moment of an attempt, in ms from the start of the connect.
type Step struct {
	Name string `json:"name"` // a strategy.Mark constant
	MS   int64  `json:"ms"`
}

// Error is a connect that no strategy could make; Attempts says why each
// failed or was skipped.
type Error struct {
	Peer     string
	Attempts []Attempt
	// Reason says why when the connect made no attempts of its own.
	Reason string
}

// Verdict is one line naming the most likely cause (see Verdict); the
// Reason when the connect made no attempts of its own.
func (e *Error) Verdict() string {
	if len(e.Attempts) == 0 && e.Reason != "" {
		return e.Reason
	}
	return Verdict(e.Attempts)
}

func (e *Error) Error() string {
	if len(e.Attempts) == 0 && e.Reason != "" {
		return fmt.Sprintf("no strategy reached %s (%s)", e.Peer, e.Reason)
	}
	var parts []string
	for _, a := range e.Attempts {
		parts = append(parts, fmt.Sprintf("%s %s: %s", a.Name, a.Outcome, a.Reason))
	}
	return fmt.Sprintf("no strategy reached %s (%s)", e.Peer, strings.Join(parts, "; "))
}
