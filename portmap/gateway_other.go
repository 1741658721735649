//go:build !linux

package portmap

// SystemGateway finds no gateway on this system: port mapping is Linux
// only for now.
func SystemGateway() (Gateway, error) { return Gateway{}, ErrNoGateway }
