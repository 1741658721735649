//go:build !linux

package node

// watchNetwork watches local addresses and routes on Linux only; elsewhere
// the external address watch and the other triggers notice a change.
func (n *Node) watchNetwork() {}
