// Package names is reachd's public name service, as P2PD's nicknames: a
// Record binds a name (a DNS label) to a node ID and that node's peer
// address until an expiry, signed by the node key; a Registry (which
// `reachd rendezvous` serves on its broker, rendezvous/names.go) keeps
// the records, gives a name to the first key that registers it until its
// record expires unrenewed, and limits registrations per source IP and per
// key. The requests and replies travel as signaling service messages
// (signaling.RequestService) on the topic Topic.
//
// A record proves itself: whoever serves it, a reader checks its
// signature against its node ID, its name and its expiry (Verify). A
// service can withhold a record or serve one that is not yet expired but
// superseded; it cannot forge one.
package names

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/signaling"
)

// Topic is the name service's signaling service topic.
const Topic = signaling.ServiceTopicPrefix + "names"

// MaxSkew is how far a record's issue time may lie ahead of the reader's
// clock.
const MaxSkew = time.Minute

// Errors of records and of the registry; the registry's reach the node as
// a reply's Code.
var (
	ErrName      = errors.New("a name is a DNS label: 1 to 63 of a-z, 0-9 and -, not starting or ending with -")
	ErrRecord    = errors.New("invalid name record")
	ErrSignature = errors.New("the name record's signature does not verify for its node ID")
	ErrExpired   = errors.New("the name record has expired")
	ErrTaken     = errors.New("the name belongs to another node ID until its record expires")
	ErrStale     = errors.New("the name record is older than the one registered")
	ErrKeyLimit  = errors.New("this node ID has as many names as the service allows")
	ErrIPLimit   = errors.New("this source IP has registered as many names as the service allows")
	ErrFull      = errors.New("the name service holds as many names as it allows")
	ErrNotFound  = errors.New("no record of that name")
	ErrTooLong   = errors.New("the record lives longer than the service allows")
	ErrBusy      = errors.New("too many name requests from this source: try again later")
)

// Record is a signed name record. A record with an empty Address drops
// the name (Drop).
type Record struct {
	Name    string `json:"name"`
	NodeID  string `json:"node_id"`
	Address string `json:"address,omitempty"`
	Issued  int64  `json:"issued_ms"`  // Unix ms; a newer record of the owner replaces an older one
	Expires int64  `json:"expires_ms"` // Unix ms
	Sig     string `json:"sig"`        // base64 Ed25519 over signingBytes
}

// ValidName reports whether name is a DNS label.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > 63 || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// signingBytes is what the owner signs: no field may hold a newline
// (Verify checks), so the encoding is unambiguous.
func (r Record) signingBytes() []byte {
	return []byte(strings.Join([]string{"reachd-name-v1", r.Name, r.NodeID, r.Address,
		strconv.FormatInt(r.Issued, 10), strconv.FormatInt(r.Expires, 10)}, "\n"))
}

// Sign fills r's NodeID and signature with self's.
func Sign(self *identity.Identity, r Record) Record {
	r.NodeID = self.NodeID()
	r.Sig = base64.StdEncoding.EncodeToString(self.Sign(r.signingBytes()))
	return r
}

// Verify checks r at now: its name, node ID and address (of that node
// ID, unless empty), its times, and its signature.
func (r Record) Verify(now time.Time) error {
	if !ValidName(r.Name) {
		return fmt.Errorf("%w: %q: %w", ErrRecord, r.Name, ErrName)
	}
	if err := identity.ValidNodeID(r.NodeID); err != nil {
		return fmt.Errorf("%w: node_id: %w", ErrRecord, err)
	}
	if r.Address != "" {
		a, err := address.Parse(r.Address)
		if err != nil {
			return fmt.Errorf("%w: address: %w", ErrRecord, err)
		}
		if a.NodeID != r.NodeID {
			return fmt.Errorf("%w: the address is of node %s, the record of %s", ErrRecord, a.NodeID, r.NodeID)
		}
	}
	if r.Issued <= 0 || r.Expires <= r.Issued {
		return fmt.Errorf("%w: issued_ms %d, expires_ms %d", ErrRecord, r.Issued, r.Expires)
	}
	if r.Issued > now.Add(MaxSkew).UnixMilli() {
		return fmt.Errorf("%w: issued %v ahead", ErrRecord, time.UnixMilli(r.Issued).Sub(now))
	}
	sig, err := base64.StdEncoding.DecodeString(r.Sig)
	if err != nil || !identity.Verify(r.NodeID, r.signingBytes(), sig) {
		return ErrSignature
	}
	if r.Expires <= now.UnixMilli() {
		return ErrExpired
	}
	return nil
}

// Messages of the name service (requests from nodes, the service's
// replies).
var (
	// MsgRegister registers or renews a record.
	MsgRegister = signaling.NewType[Record]("name_register")
	// MsgDrop drops a name: a record of the owner without an address.
	MsgDrop = signaling.NewType[Record]("name_drop")
	// MsgLookup asks for the record of a name.
	MsgLookup = signaling.NewType[Lookup]("name_lookup")
	// MsgReply answers each of them.
	MsgReply = signaling.NewType[Reply]("name_reply")
)

// Lookup is the body of MsgLookup.
type Lookup struct {
	Name string `json:"name"`
}

// Reply is the body of MsgReply: the record (a lookup's, or the one
// registered), or why not (Code, one of the Codes, and a message).
type Reply struct {
	Record *Record `json:"record,omitempty"`
	Code   string  `json:"code,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Codes of a Reply, by error.
var codes = map[string]error{
	"bad_record": ErrRecord,
	"signature":  ErrSignature,
	"expired":    ErrExpired,
	"taken":      ErrTaken,
	"stale":      ErrStale,
	"key_limit":  ErrKeyLimit,
	"ip_limit":   ErrIPLimit,
	"full":       ErrFull,
	"not_found":  ErrNotFound,
	"too_long":   ErrTooLong,
	"busy":       ErrBusy,
}

// ReplyOf words err as a reply.
func ReplyOf(err error) Reply {
	for code, e := range codes {
		if errors.Is(err, e) {
			return Reply{Code: code, Error: err.Error()}
		}
	}
	return Reply{Code: "bad_record", Error: err.Error()}
}

// Err is the error a reply carries (wrapping one of this package's), or
// nil.
func (r Reply) Err() error {
	if r.Code == "" {
		return nil
	}
	e, ok := codes[r.Code]
	if !ok {
		return fmt.Errorf("name service: %s", r.Error)
	}
	return fmt.Errorf("%w (name service: %s)", e, r.Error)
}
