package server

import "sync"

// Buffers of the data routes, pooled so that moving bytes allocates
// nothing in steady state, and taken only while there are bytes to move:
// an idle stream or a waiting recv holds none.
const (
	// frameSize is the most a WebSocket message from the node carries
	// (what has already arrived, coalesced), and the size of the pieces
	// in which a message from the client is read.
	frameSize = 256 << 10
)

type (
	frameBuf [frameSize]byte
	recvBuf  [maxRecvMax]byte
)

var (
	framePool = sync.Pool{New: func() any { return new(frameBuf) }}
	recvPool  = sync.Pool{New: func() any { return new(recvBuf) }}
)
