package portmap

import "time"

// epochLost tells whether a PCP or NAT-PMP server lost its mappings
// between two responses, from its epoch times (prev, cur, in seconds) and
// the client's times of receipt (prevAt, curAt): RFC 6887 section 8.5,
// which RFC 6886 section 3.6 matches. The server's clock may run 1/16
// slower or faster than ours, and each side may be 2 s off; an epoch that
// went back, or ran apart from our clock by more, means the server
// restarted (or lost its state another way) and every mapping has to be
// made again.
func epochLost(prev uint32, prevAt time.Time, cur uint32, curAt time.Time) bool {
	if int64(cur) < int64(prev)-1 {
		return true
	}
	client := int64(curAt.Sub(prevAt) / time.Second)
	server := int64(cur) - int64(prev)
	return server+2 < client-client/16 || client+2 < server-server/16
}
