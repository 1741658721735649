package punch

// TLSRole is the side a node takes in the TLS handshake over a punched
// connection, where both ends dialled and neither is naturally the client.
type TLSRole int

// TLS roles. RoleNone, the zero value, means there is no valid role (both
// node IDs are the same).
const (
	RoleNone TLSRole = iota
	RoleClient
	RoleServer
)

func (r TLSRole) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleServer:
		return "server"
	default:
		return "none"
	}
}

// Role says which TLS side the local node takes towards peer after a
// simultaneous open: the node with the smaller node ID (compared as strings,
// the same on both sides) is the client, the other the server. Equal IDs
// yield RoleNone. Role is pure; it does not validate the IDs.
func Role(local, peer string) TLSRole {
	switch {
	case local < peer:
		return RoleClient
	case local > peer:
		return RoleServer
	default:
		return RoleNone
	}
}
