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

// TellAddress tells peer our current address as the node does when its
// address changed (address_moved), once.
func (n *Node) TellAddress(ctx context.Context, peer string) error {
	_, err := n.sig.Request(ctx, signaling.Peer{NodeID: peer}, msgAddressMoved, addressBody{Address: n.Address()})
	return err
}
