package network

import "time"

// A network's state, as Info and StateChange report it.
const (
	// StateJoining: the join runs (an automatic address listens for the
	// members' addresses, the device is set up), or it has run for less
	// than Config.Wait and no member has answered yet.
	StateJoining = "joining"
	// StateWaiting: no other member has answered for Config.Wait since
	// the join began (or none is left). Members sealing their
	// announcements with another secret are not heard at all, so a
	// wrong secret looks the same: DetailWaiting says so.
	StateWaiting = "waiting"
	// StateJoined: at least one other member has answered.
	StateJoined = "joined"
)

// Details of the states.
const (
	DetailJoining = "setting up: listening for the members' addresses"
	DetailWaiting = "no other member has answered yet; a wrong secret looks the same"
	DetailAlone   = "no other member is in the network now; a wrong secret looks the same"
)

// StateChange is a network's new state.
type StateChange struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Detail  string `json:"detail,omitempty"`
	Members int    `json:"members"`
}

// stateLocked computes the network's state and its detail.
func (n *Network) stateLocked(now time.Time) (string, string) {
	switch {
	case !n.up:
		return StateJoining, DetailJoining
	case len(n.members) > 0:
		return StateJoined, ""
	case n.heard:
		return StateWaiting, DetailAlone
	case now.Sub(n.joined) < n.m.cfg.Wait:
		return StateJoining, ""
	}
	return StateWaiting, DetailWaiting
}

// noteState logs a change of the network's state and reports it to
// Config.OnState.
func (n *Network) noteState() {
	n.mu.Lock()
	st, detail := n.stateLocked(n.m.cfg.Now())
	changed := st != n.state && !n.stopped
	if changed {
		n.state = st
	}
	members := len(n.members)
	n.mu.Unlock()
	if !changed {
		return
	}
	switch st {
	case StateWaiting:
		n.log.Warn("no member answers", "state", st, "detail", detail, "after", n.m.cfg.Now().Sub(n.joined).Round(time.Second))
	default:
		n.log.Info("network state", "state", st, "members", members)
	}
	if f := n.m.cfg.OnState; f != nil {
		f(StateChange{Name: n.name, State: st, Detail: detail, Members: members})
	}
}
