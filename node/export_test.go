package node

import (
	"context"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/signaling"
)

// AskAddress asks peer over signaling for its current address, as a link
// does to resume (linkHost.AskAddress).
func (n *Node) AskAddress(ctx context.Context, peer string) (address.Address, error) {
	return linkHost{n}.AskAddress(ctx, peer, address.Address{})
}

// RenewNamesAsIfMoved makes the node renew its names as it does when its
// address changed (renewNames finds an address other than the one it
// registered).
func (n *Node) RenewNamesAsIfMoved() {
	n.names.mu.Lock()
	for _, r := range n.names.regs {
		r.addr = "an address of before"
	}
	n.names.mu.Unlock()
	n.renewNames()
}

// ForgetLocated empties the addresses learnt by node ID over signaling.
func (n *Node) ForgetLocated() {
	n.located.mu.Lock()
	n.located.entries = nil
	n.located.mu.Unlock()
}

// TellAddress tells peer our current address as the node does when its
// address changed (address_moved), once.
func (n *Node) TellAddress(ctx context.Context, peer string) error {
	_, err := n.sig.Request(ctx, signaling.Peer{NodeID: peer}, msgAddressMoved, addressBody{Address: n.Address()})
	return err
}
