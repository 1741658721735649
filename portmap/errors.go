package portmap

import "errors"

// Errors returned by the clients and the Mapper.
var (
	// ErrNoGateway: the host has no IPv4 default route to map through.
	ErrNoGateway = errors.New("portmap: no ipv4 default gateway")
	// ErrNoService: no mapping protocol answered at the gateway.
	ErrNoService = errors.New("portmap: no pcp, nat-pmp or upnp service at the gateway")
	// ErrLost: the gateway no longer holds the mapping (it restarted:
	// its epoch went back; or the entry is gone or points elsewhere).
	ErrLost = errors.New("portmap: the gateway lost the mapping")
)
