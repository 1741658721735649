package race

import (
	"fmt"

	"github.com/reachd/reachd/strategy"
)

// The verdicts of a failed connect, most specific first (see Verdict).
const (
	VerdictRefused   = "the peer refused us"
	VerdictWrongPeer = "the node that answered has another key than the address's node ID"
	VerdictOffline   = "the peer did not answer over signaling: it is offline or shares no broker with us"
	VerdictNoRelay   = "no path through these NATs, and no relay to fall back on (--turn)"
	VerdictTimedOut  = "timed out: no strategy made a path in time"
	VerdictNoPath    = "no strategy made a path"
)

// Verdict is one line naming the most likely cause of a connect that
// failed, drawn from its attempts, the first rule that holds:
//   - an attempt the peer refused (over signaling or before TLS): the
//     peer refused us;
//   - a path that proved another key: the wrong peer;
//   - every signaling strategy that ran (reverse, punch, relay) got no
//     reply: the peer is offline or shares no broker with us, whatever
//     direct dialing did;
//   - something failed and the relay could not run (no TURN server, or
//     the plan skipped it): no path through these NATs and no relay;
//   - a failure timed out, or the connect's time ran out before a step
//     started: timed out;
//   - else no strategy made a path, with the first failure's class.
func Verdict(attempts []Attempt) string {
	var (
		signaled, noReply, timeout int
		noRelay                    bool
		first                      *Attempt
		skipped                    string
	)
	for i := range attempts {
		a := &attempts[i]
		switch a.Class {
		case strategy.ClassPeerRefused:
			if a.Reason != "" {
				return VerdictRefused + " (" + a.Reason + ")"
			}
			return VerdictRefused
		case strategy.ClassWrongPeer:
			return VerdictWrongPeer
		}
		switch a.Outcome {
		case OutcomeSkipped:
			if a.Reason == SkippedTimeout {
				timeout++
			} else if a.Name == strategy.Relay {
				noRelay = true
			}
			if skipped == "" {
				skipped = fmt.Sprintf("%s: %s", a.Name, a.Reason)
			}
			continue
		case OutcomeFailed:
		default:
			continue
		}
		if first == nil {
			first = a
		}
		if a.Class == strategy.ClassUnavailable {
			noRelay = noRelay || a.Name == strategy.Relay
			continue
		}
		if a.Name != strategy.Direct {
			signaled++
			if a.Class == strategy.ClassNoReply {
				noReply++
			}
		}
		if a.Class == strategy.ClassTimeout {
			timeout++
		}
	}
	switch {
	case signaled > 0 && noReply == signaled:
		return VerdictOffline
	case first != nil && noRelay:
		return VerdictNoRelay
	case timeout > 0:
		return VerdictTimedOut
	case first != nil:
		return fmt.Sprintf("%s (%s: %s)", VerdictNoPath, first.Name, first.Class)
	case skipped != "":
		return fmt.Sprintf("%s: none could be tried (%s)", VerdictNoPath, skipped)
	}
	return VerdictNoPath
}
