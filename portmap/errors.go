package portmap

import "errors"

// Errors returned by the clients and the Mapper.
var (
	// ErrNoGateway: the host has no IPv4 default route to map through.
	ErrNoGateway = errors.New("portmap: no ipv4 default gateway")
	// ErrNoService: no mapping protocol answered at the gateway.
	ErrNoService = errors.New("portmap: no pcp, nat-pmp or upnp service at the gateway")
	// ErrEpoch: the server's epoch says it lost its mappings.
	ErrEpoch = errors.New("portmap: the gateway lost its mappings (epoch went back)")
)
