package node

import (
	"context"

	"github.com/reachd/reachd/address"
)

// AskAddress asks peer over signaling for its current address, as a link
// does to resume (linkHost.AskAddress).
func (n *Node) AskAddress(ctx context.Context, peer string) (address.Address, error) {
	return linkHost{n}.AskAddress(ctx, peer, address.Address{})
}
