package network

import (
	"net"
	"net/netip"
	"time"
)

// Info describes a joined network.
type Info struct {
	Name string `json:"name"`
	// Host is the host name this node announces in the network.
	Host string `json:"host,omitempty"`
	// State is StateJoining, StateWaiting or StateJoined; Detail says
	// what it means, when there is more to say.
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	// IP is the node's address in the network, with prefix; Auto says it
	// was picked automatically (AddressMoves counts clashes it moved on).
	IP           string `json:"ip"`
	Auto         bool   `json:"auto"`
	AddressMoves int    `json:"address_moves"`
	MAC          string `json:"mac"`
	// LinkLocal is the device's IPv6 link-local address (from its MAC).
	LinkLocal string `json:"link_local"`
	// Device is the TAP device's name; empty while an automatic address
	// settles.
	Device    string    `json:"device"`
	MTU       int       `json:"mtu"`
	FramesIn  uint64    `json:"frames_in"`  // to the device, from the members
	FramesOut uint64    `json:"frames_out"` // from the device
	JoinedAt  time.Time `json:"joined_at"`
	Members   []Member  `json:"members"`
}

// Member is one row of the peer table.
type Member struct {
	NodeID string `json:"node_id"`
	// Host is the host name the member announces: it is host.network
	// wherever a peer is named.
	Host      string `json:"host,omitempty"`
	Address   string `json:"address"`
	IP        string `json:"ip"`
	MAC       string `json:"mac"`
	LinkLocal string `json:"link_local"`
	// Link is LinkUp, LinkConnecting, LinkWaiting or LinkDown, since Since.
	Link  string    `json:"link"`
	Since time.Time `json:"since"`
	// Dials: we dial this member (our node ID is the smaller).
	Dials bool `json:"dials"`
	// ConnectionID, Strategy and RemoteAddr describe the live link.
	ConnectionID string `json:"connection_id,omitempty"`
	Strategy     string `json:"strategy,omitempty"`
	RemoteAddr   string `json:"remote_addr,omitempty"`
	FramesIn     uint64 `json:"frames_in"`  // from the member
	FramesOut    uint64 `json:"frames_out"` // to the member
	// FramesSpoofed counts frames from the member dropped because they
	// claimed a MAC or IP that is not the member's (see tap.Source).
	FramesSpoofed uint64    `json:"frames_spoofed"`
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"last_error,omitempty"`
	LastSeen      time.Time `json:"last_seen"` // its last announcement
}

// linkLocal is the EUI-64 IPv6 link-local address the kernel gives a
// device with this MAC.
func linkLocal(mac net.HardwareAddr) string {
	if len(mac) != 6 {
		return ""
	}
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	b[8], b[9], b[10] = mac[0]^2, mac[1], mac[2]
	b[11], b[12] = 0xff, 0xfe
	b[13], b[14], b[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(b).String()
}
