package node

import (
	"github.com/vishvananda/netlink"
)

// watchNetwork asks for a probe when a local address comes or goes, or a
// default route changes (netlink): the node may have joined another
// network. Bursts make one probe (reprobeSoon).
func (n *Node) watchNetwork() {
	select {
	case <-n.ready:
	case <-n.ctx.Done():
		return
	}
	done := make(chan struct{})
	logErr := func(err error) { n.log.Debug("netlink watch", "err", err) }
	var addrs chan netlink.AddrUpdate
	var routes chan netlink.RouteUpdate
	// A subscription ends when done closes its socket, closing its channel
	// once what it was handing over is read: read them to the end. A nil
	// channel (a subscription that failed, or one read to its end already)
	// is skipped: ranging over it would block for ever.
	defer func() {
		close(done)
		if addrs != nil {
			for range addrs {
			}
		}
		if routes != nil {
			for range routes {
			}
		}
	}()
	a := make(chan netlink.AddrUpdate, 64)
	if err := netlink.AddrSubscribeWithOptions(a, done, netlink.AddrSubscribeOptions{ErrorCallback: logErr}); err != nil {
		n.log.Warn("cannot watch local addresses", "err", err)
	} else {
		addrs = a
	}
	r := make(chan netlink.RouteUpdate, 64)
	if err := netlink.RouteSubscribeWithOptions(r, done, netlink.RouteSubscribeOptions{ErrorCallback: logErr}); err != nil {
		n.log.Warn("cannot watch routes", "err", err)
	} else {
		routes = r
	}
	inA, inR := addrs, routes // nil once ended: a nil channel is never ready
	for inA != nil || inR != nil {
		select {
		case <-n.ctx.Done():
			return
		case u, ok := <-inA:
			if !ok {
				inA, addrs = nil, nil
				continue
			}
			if ip := u.LinkAddress.IP; !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && !ip.IsMulticast() {
				n.reprobeSoon("local address")
			}
		case u, ok := <-inR:
			if !ok {
				inR, routes = nil, nil
				continue
			}
			if u.Dst == nil || isDefault(u.Dst.String()) {
				n.reprobeSoon("default route")
			}
		}
	}
}

func isDefault(dst string) bool { return dst == "0.0.0.0/0" || dst == "::/0" }
