package network

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"golang.org/x/time/rate"

	"github.com/reachd/reachd/tap"
)

// What a member, or anyone else who holds the secret, can make us do is
// bounded:
//
//   - a member is its node ID: its announces are signed by its node key
//     (package signaling checks that), its MAC must be the one derived
//     from its node ID and the network's name, and the address it
//     announces must be its own and pass the rules for learned addresses
//     (Host.Dialable) before we dial it;
//   - we act on a member's announces at most announceRate a second (after
//     a burst of announceBurst), and on at most Config.MaxMembers members;
//   - an address clash moves our automatic address only when the other
//     held it first (mustMove), and at most moveBurst times per
//     moveBurst*moveEvery;
//   - on the switch, a member's port takes only frames from the member's
//     MAC and from the IPs it holds (tap.Source); the rest are dropped and
//     counted (Member.FramesSpoofed).

// Bounds on what members' announces make us do.
const (
	announceBurst = 10
	moveBurst     = 3
	moveEvery     = time.Minute
)

// errTooManyMembers refuses a member past Config.MaxMembers.
var errTooManyMembers = errors.New("the peer table is full")

// announceRate is how many announces a second of one member we act on:
// four times the period, and at least one a second (answers to newcomers
// and address changes come between the periodic ones).
func (n *Network) announceRate() rate.Limit {
	return max(rate.Limit(1), rate.Limit(4/n.m.cfg.AnnounceEvery.Seconds()))
}

// tie is how close two claims of one address are simultaneous, and how
// long after our join we take a member's word for how long it has held
// its address: its announces reach us within a period once we listen.
func (n *Network) tie() time.Duration {
	return 2 * (n.m.cfg.Settle + n.m.cfg.AnnounceEvery)
}

// claimedSince is when a member that announced held ms ago took its
// address: on its word while we are new to the network, else now.
func (n *Network) claimedSince(now time.Time, held int64) time.Time {
	if now.Sub(n.joined) >= n.tie() || held <= 0 {
		return now
	}
	return now.Add(-time.Duration(min(held, int64(365*24*time.Hour/time.Millisecond))) * time.Millisecond)
}

// memberMAC is the MAC a member with node ID id has in this network.
func (n *Network) memberMAC(id string) net.HardwareAddr {
	return tap.StableMAC(id + "/" + n.name)
}

// newMemberLocked adds a row for member id to the peer table.
func (n *Network) newMemberLocked(id string, now time.Time) *member {
	mb := &member{id: id, state: LinkWaiting, since: now, downSince: now, lastSeen: now, ipSince: now,
		mac: n.memberMAC(id), wake: make(chan struct{}, 1),
		announces: rate.NewLimiter(n.announceRate(), announceBurst)}
	mb.announces.AllowN(now, 1) // the announce that found it
	n.members[id] = mb
	n.heard = true
	return mb
}

// logRefusal logs what members' announces were refused, or did not get,
// at most about once a second (so a flood does not become one): the
// lines it skipped are counted in the next.
func (n *Network) logRefusal(msg string, args ...any) {
	if !n.refusals.Allow() {
		n.skipped.Add(1)
		return
	}
	if k := n.skipped.Swap(0); k > 0 {
		args = append(args, "skipped", k)
	}
	n.log.Info(msg, args...)
}

// refusedLocked counts a member refused for the cap.
func (n *Network) refusedLocked(id string) {
	n.refused++
	n.logRefusal("member refused: the peer table is full", "member", id, "max_members", n.m.cfg.MaxMembers, "refused", n.refused)
}

// sourceLocked is what mb's switch port takes frames from: its MAC, its
// IPv6 link-local addresses, and its IPv4 address unless another holds it.
func (n *Network) sourceLocked(mb *member) tap.Source {
	src := tap.Source{MAC: mb.mac}
	if ll, err := netip.ParseAddr(mb.linkLocal); err == nil {
		src.IPs = append(src.IPs, ll)
	}
	if ll, err := netip.ParseAddr(linkLocal(mb.mac)); err == nil {
		src.IPs = append(src.IPs, ll)
	}
	if n.holdsLocked(mb) {
		src.IPs = append(src.IPs, mb.ip.Addr())
	}
	return src
}

// holdsLocked reports whether mb's IPv4 address is its own: not ours, and
// not that of a member who took it first.
func (n *Network) holdsLocked(mb *member) bool {
	a := mb.ip.Addr()
	if !a.IsValid() || a == n.ip.Addr() {
		return false
	}
	for _, o := range n.members {
		if o == mb || o.ip.Addr() != a {
			continue
		}
		if o.ipSince.Before(mb.ipSince) || (o.ipSince.Equal(mb.ipSince) && o.id < mb.id) {
			return false
		}
	}
	return true
}

// refreshSourcesLocked gives every member's port its current source.
func (n *Network) refreshSourcesLocked() {
	if !n.up {
		return
	}
	for _, mb := range n.members {
		if mb.link != nil {
			n.sw.SetPortSource(mb.port, n.sourceLocked(mb))
		}
	}
}
