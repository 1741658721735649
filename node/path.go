package node

import (
	"context"

	"github.com/reachd/reachd/node/internal/handshake"
	"github.com/reachd/reachd/strategy"
)

// The path handshake lives in node/internal/handshake; these are the
// names of its outcomes the node's API shows.
type (
	// RefusedError is a path the peer refused before TLS, with its reason.
	RefusedError = handshake.RefusedError
)

// ErrWrongPeer is returned when the peer's key is not the node ID we expected.
var ErrWrongPeer = handshake.ErrWrongPeer

// keys is what the node proves itself with on a path.
func (n *Node) keys() handshake.Keys { return handshake.Keys{ID: n.ID(), Cert: n.cert} }

// handshake secures a strategy's raw transport, proving the peer is
// expected (any peer when expected is empty); see handshake.Run.
func (n *Node) handshake(ctx context.Context, r strategy.Raw, expected string) (handshake.Path, string, error) {
	return handshake.Run(ctx, n.keys(), r, expected)
}
