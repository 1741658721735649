package rendezvous

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"

	"github.com/pion/stun/v4"
)

// PATCH of pion/turn v5.1.2 (internal/server), made from the outside: the
// server's sockets are wrapped (turnConn for TCP, turnPacketConn for UDP) so
// that what pion reads is checked and three of its answers are rewritten as
// they are written. Drop this file when pion/turn ships the equivalent
// change, which is:
//
//   - handleConnectionBindRequest (server/turn.go) builds its success
//     response without MESSAGE-INTEGRITY: it should pass the
//     messageIntegrity that authenticateRequest returned, as the handlers
//     of Allocate, Refresh and Connect do. RFC 8489 section 9.2.4 wants it
//     on every response to an authenticated request, and coturn's client
//     refuses the response without it ("Wrong integrity in a message
//     received from server", so `turnutils_uclient -T` cannot bind).
//   - authenticateRequest (server/util.go) answers an unknown USERNAME
//     (AuthHandler returning false) and a wrong MESSAGE-INTEGRITY with 400
//     Bad Request: RFC 8489 section 9.2.4 asks for 401 Unauthenticated with
//     REALM and NONCE, as for a request without credentials.
//   - handleBindingRequest (server/stun.go) answers with XOR-MAPPED-ADDRESS
//     only; RFC 5780 section 6.1 wants MAPPED-ADDRESS beside it, as the
//     STUN server sends (stunanswer.go), for clients such as coturn's
//     turnutils_natdiscovery that compare the two.
//
// turnPatch therefore checks every request that carries credentials as pion
// will (same keys, same order: NONCE and REALM present, then USERNAME, then
// MESSAGE-INTEGRITY) and remembers the verdict by transaction ID; when pion
// answers that transaction, rewrite puts MESSAGE-INTEGRITY on a
// ConnectionBind success and turns pion's 400 after a failed check into
// 401. It adds MAPPED-ADDRESS to every Binding success.
type turnPatch struct {
	realm string
	keys  map[string][]byte // long-term keys by user name (RFC 8489 section 9.2.2)
}

// turnVerdict is turnPatch's check of one request, kept until pion answers it.
type turnVerdict struct {
	id    [stun.TransactionIDSize]byte
	key   []byte // the user's key when the credentials are right
	nonce []byte // the request's NONCE, repeated in a 401
}

// turnVerdicts keeps the last few verdicts of one connection or socket.
// pion answers each request before it reads the next one, so a few cover
// requests that arrive together. It is safe for concurrent use: relayed
// data is written from other goroutines than the one that reads.
type turnVerdicts struct {
	mu   sync.Mutex
	v    [4]turnVerdict
	next int
}

func (t *turnVerdicts) put(v turnVerdict) {
	t.mu.Lock()
	t.v[t.next] = v
	t.next = (t.next + 1) % len(t.v)
	t.mu.Unlock()
}

// take returns and forgets the verdict on transaction id.
func (t *turnVerdicts) take(id []byte) (turnVerdict, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.v {
		if t.v[i].nonce != nil && bytes.Equal(t.v[i].id[:], id) {
			v := t.v[i]
			t.v[i] = turnVerdict{}
			return v, true
		}
	}
	return turnVerdict{}, false
}

// inspect checks the credentials of msg, a whole STUN message read from a
// client, and records the verdict when msg is a request that carries them.
func (a *turnPatch) inspect(msg []byte, into *turnVerdicts) {
	if len(msg) < stunHeaderSize || msg[0]&0xc0 != 0 || !stun.IsMessage(msg) || !isRequest(msg) {
		return
	}
	var m stun.Message
	if err := stun.Decode(msg, &m); err != nil || !m.Contains(stun.AttrMessageIntegrity) {
		return
	}
	var (
		nonce stun.Nonce
		realm stun.Realm
		user  stun.Username
	)
	// Without these pion answers 400 itself, rightly.
	if nonce.GetFrom(&m) != nil || realm.GetFrom(&m) != nil || user.GetFrom(&m) != nil {
		return
	}
	v := turnVerdict{id: m.TransactionID, nonce: append([]byte{}, nonce...)}
	if key, ok := a.keys[user.String()]; ok && stun.MessageIntegrity(key).Check(&m) == nil {
		v.key = key
	}
	into.put(v)
}

// rewrite returns what to write instead of p, an answer of pion's (or
// relayed data, which it returns unchanged).
func (a *turnPatch) rewrite(p []byte, from *turnVerdicts) []byte {
	if len(p) < stunHeaderSize || p[0]&0xc0 != 0 || !stun.IsMessage(p) {
		return p
	}
	typ := binary.BigEndian.Uint16(p[0:2])
	if typ == bindingOK {
		return withMappedAddress(p)
	}
	isError := typ&0x0110 == 0x0110
	if typ != connectionBindOK && !isError {
		return p
	}
	v, ok := from.take(p[8:stunHeaderSize])
	if !ok {
		return p
	}
	var m stun.Message
	if err := stun.Decode(p, &m); err != nil {
		return p
	}
	var out stun.Message
	switch {
	case typ == connectionBindOK && v.key != nil:
		id, err := m.Get(stun.AttrConnectionID)
		if err != nil {
			return p
		}
		if err := out.Build(stun.NewTransactionIDSetter(m.TransactionID), m.Type,
			stun.RawAttribute{Type: stun.AttrConnectionID, Value: id}, stun.MessageIntegrity(v.key)); err != nil {
			return p
		}
	case isError && v.key == nil:
		var code stun.ErrorCodeAttribute
		if code.GetFrom(&m) != nil || code.Code != stun.CodeBadRequest {
			return p
		}
		if err := out.Build(stun.NewTransactionIDSetter(m.TransactionID), m.Type, stun.CodeUnauthorized,
			stun.NewNonce(string(v.nonce)), stun.NewRealm(a.realm)); err != nil {
			return p
		}
	default:
		return p
	}
	return out.Raw
}

// bindingOK is the type of a Binding success response.
var bindingOK = stun.BindingSuccess.Value()

// withMappedAddress returns pion's Binding success p with MAPPED-ADDRESS
// beside its XOR-MAPPED-ADDRESS, and FINGERPRINT, as pion sends.
func withMappedAddress(p []byte) []byte {
	var m stun.Message
	var x stun.XORMappedAddress
	if stun.Decode(p, &m) != nil || x.GetFrom(&m) != nil || m.Contains(stun.AttrMappedAddress) {
		return p
	}
	var out stun.Message
	if err := out.Build(stun.NewTransactionIDSetter(m.TransactionID), m.Type, &x,
		&stun.MappedAddress{IP: x.IP, Port: x.Port}, stun.Fingerprint); err != nil {
		return p
	}
	return out.Raw
}

func isRequest(msg []byte) bool {
	return binary.BigEndian.Uint16(msg[0:2])&0x0110 == 0
}

// turnPacketConn is the UDP socket pion serves, with turnPatch.
type turnPacketConn struct {
	net.PacketConn
	patch    *turnPatch
	verdicts turnVerdicts
}

func (c *turnPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if n > 0 {
		c.patch.inspect(p[:n], &c.verdicts)
	}
	return n, addr, err
}

func (c *turnPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	q := c.patch.rewrite(p, &c.verdicts)
	if _, err := c.PacketConn.WriteTo(q, addr); err != nil {
		return 0, err
	}
	return len(p), nil
}
