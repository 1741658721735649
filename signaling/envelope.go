package signaling

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/nacl/box"

	"github.com/reachd/reachd/identity"
)

// Wire constants.
const (
	// Version is the envelope version this package speaks ("v").
	Version = 1
	// MaxMessageSize is the largest envelope accepted or sent, in bytes.
	MaxMessageSize = 64 << 10
	// DefaultMaxSkew is how far in the future a message's ts may lie. Nodes
	// stamp messages with the NTP-corrected clock, so a few seconds cover
	// their disagreement.
	DefaultMaxSkew = 5 * time.Second
	// DefaultMaxTTL is the longest ttl_ms accepted.
	DefaultMaxTTL = 5 * time.Minute

	idBytes    = 16
	nonceBytes = 24
	maxTypeLen = 32
	// maxTS bounds ts so that ts+ttl_ms cannot overflow (and stays exact in JSON numbers).
	maxTS = 1<<53 - 1
)

// sigDomain starts every signed byte string, so that a signature over an
// envelope can never be mistaken for one over anything else the node key signs.
const sigDomain = "reachd signaling v1 sig\x00"

// Envelope is the JSON object on the wire. Box and Sig are standard base64
// (RFC 4648 section 4, padded).
type Envelope struct {
	V     int    `json:"v"`
	Type  string `json:"type"`
	ID    string `json:"id"`           // 32 lowercase hex digits (128 random bits)
	Re    string `json:"re,omitempty"` // ID of the message answered, same syntax, or empty
	From  string `json:"from"`         // sender node ID
	To    string `json:"to"`           // recipient node ID
	TS    int64  `json:"ts"`           // send time, unix milliseconds
	TTLMs int64  `json:"ttl_ms"`       // lifetime after TS, milliseconds
	Box   string `json:"box"`          // base64(nonce[24] || nacl box of the JSON body)
	Sig   string `json:"sig"`          // base64(Ed25519 signature over SigningBytes)
}

// SigningBytes returns the canonical byte string that Sig signs:
//
//	"reachd signaling v1 sig" 0x00
//	uint64be(v)
//	lp(type) lp(id) lp(re) lp(from) lp(to)
//	int64be(ts) int64be(ttl_ms)
//	lp(box)
//
// where lp(s) is uint32be(len(s)) followed by the bytes of s. Strings are the
// JSON-decoded field values (UTF-8); box is its base64 text exactly as sent,
// not the decoded bytes. Every field except sig is covered, each one framed,
// so no two distinct envelopes share a signing string.
func (e *Envelope) SigningBytes() []byte {
	n := len(sigDomain) + 8*3 + 4*6 + len(e.Type) + len(e.ID) + len(e.Re) + len(e.From) + len(e.To) + len(e.Box)
	b := make([]byte, 0, n)
	b = append(b, sigDomain...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.V))
	for _, s := range []string{e.Type, e.ID, e.Re, e.From, e.To} {
		b = appendLP(b, s)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(e.TS))
	b = binary.BigEndian.AppendUint64(b, uint64(e.TTLMs))
	return appendLP(b, e.Box)
}

func appendLP(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Message is a signaling message: what Seal encodes and what Open returns.
type Message struct {
	Type string
	ID   string
	Re   string // ID of the message this one answers; empty for requests
	From string
	To   string
	Sent time.Time     // ts; millisecond precision on the wire
	TTL  time.Duration // ttl_ms; millisecond precision on the wire
	Body json.RawMessage

	// Set by Client on received messages: the broker the message came through.
	Broker       string // broker URL as configured
	BrokerOffset int    // index into Config.Brokers
}

// Expires returns the instant after which the message is no longer accepted.
func (m *Message) Expires() time.Time { return m.Sent.Add(m.TTL) }

// Decode unmarshals the body into v.
func (m *Message) Decode(v any) error {
	if err := json.Unmarshal(m.Body, v); err != nil {
		return fmt.Errorf("signaling: decode %s body: %w", m.Type, err)
	}
	return nil
}

// NewID returns a random message ID (32 lowercase hex digits) read from r.
func NewID(r io.Reader) (string, error) {
	var b [idBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("signaling: message id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Seal encrypts m.Body to m.To, signs the envelope as self and returns its
// JSON. It uses m.Type, ID, Re, To, Sent, TTL and Body; From is self. Nonces
// come from r (crypto/rand.Reader in production). Seal reads no clock.
func Seal(self *identity.Identity, m *Message, r io.Reader) ([]byte, error) {
	return seal(self, m, r, uncachedShared(self))
}

// sharedKeyFunc returns the NaCl box key shared between self and a peer.
type sharedKeyFunc func(peer string) (*[32]byte, error)

func uncachedShared(self *identity.Identity) sharedKeyFunc {
	return func(peer string) (*[32]byte, error) {
		pub, err := identity.BoxPublicKey(peer)
		if err != nil {
			return nil, err
		}
		var k [32]byte
		box.Precompute(&k, pub, self.BoxPrivateKey())
		return &k, nil
	}
}

func seal(self *identity.Identity, m *Message, r io.Reader, shared sharedKeyFunc) ([]byte, error) {
	if err := checkType(m.Type); err != nil {
		return nil, fmt.Errorf("signaling: seal: %w", err)
	}
	if err := checkID(m.ID); err != nil {
		return nil, fmt.Errorf("signaling: seal: id: %w", err)
	}
	if m.Re != "" {
		if err := checkID(m.Re); err != nil {
			return nil, fmt.Errorf("signaling: seal: re: %w", err)
		}
	}
	if m.TTL < time.Millisecond {
		return nil, fmt.Errorf("signaling: seal: ttl %v below 1ms", m.TTL)
	}
	ts := m.Sent.UnixMilli()
	if ts <= 0 || ts > maxTS {
		return nil, fmt.Errorf("signaling: seal: send time %v out of range", m.Sent)
	}
	key, err := shared(m.To)
	if err != nil {
		return nil, fmt.Errorf("signaling: seal: recipient %q: %w", m.To, err)
	}
	var nonce [nonceBytes]byte
	if _, err := io.ReadFull(r, nonce[:]); err != nil {
		return nil, fmt.Errorf("signaling: seal: nonce: %w", err)
	}
	sealed := box.SealAfterPrecomputation(nonce[:], m.Body, &nonce, key)
	e := Envelope{
		V:     Version,
		Type:  m.Type,
		ID:    m.ID,
		Re:    m.Re,
		From:  self.NodeID(),
		To:    m.To,
		TS:    ts,
		TTLMs: m.TTL.Milliseconds(),
		Box:   base64.StdEncoding.EncodeToString(sealed),
	}
	e.Sig = base64.StdEncoding.EncodeToString(self.Sign(e.SigningBytes()))
	out, err := json.Marshal(&e)
	if err != nil {
		return nil, fmt.Errorf("signaling: seal: %w", err)
	}
	if len(out) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes sealed, limit %d", ErrTooLarge, len(out), MaxMessageSize)
	}
	return out, nil
}

// Policy holds the receive-side rules Open applies.
type Policy struct {
	// Now is the current (NTP-corrected) time. Required.
	Now time.Time
	// MaxSkew is how far ts may lie after Now. Zero means DefaultMaxSkew.
	MaxSkew time.Duration
	// MaxTTL is the longest ttl_ms accepted. Zero means DefaultMaxTTL.
	MaxTTL time.Duration
}

// Open checks data as a message to self and returns it with its body
// decrypted. The checks run in this order, and the first failure is returned
// as a *DropError with its reason: size (oversized), JSON and field syntax
// (malformed, version), signature (unsigned, bad_signature), recipient
// (not_for_us), time (expired, future) and box (undecryptable). Replays are
// the caller's business (the Client keeps a replay cache). Open reads no clock.
func Open(self *identity.Identity, data []byte, p Policy) (*Message, error) {
	return open(self, data, p, uncachedShared(self))
}

func open(self *identity.Identity, data []byte, p Policy, shared sharedKeyFunc) (*Message, error) {
	return openTo(data, p, shared, self.NodeID(), identity.ValidNodeID)
}

// openTo is Open for a message addressed to want (a node ID, or a group
// topic), whose to field validTo checks, with box keys from shared.
func openTo(data []byte, p Policy, shared sharedKeyFunc, want string, validTo func(string) error) (*Message, error) {
	if len(data) > MaxMessageSize {
		return nil, drop(DropOversized, "%d bytes, limit %d", len(data), MaxMessageSize)
	}
	skew, maxTTL := p.MaxSkew, p.MaxTTL
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	if maxTTL <= 0 {
		maxTTL = DefaultMaxTTL
	}

	var e Envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, drop(DropMalformed, "json: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, drop(DropMalformed, "trailing data after the envelope")
	}
	if e.V != Version {
		return nil, drop(DropVersion, "v %d, want %d", e.V, Version)
	}
	sealed, sig, err := e.check(maxTTL, validTo)
	if err != nil {
		return nil, err
	}
	if sig == nil {
		return nil, drop(DropUnsigned, "no sig")
	}
	if !identity.Verify(e.From, e.SigningBytes(), sig) {
		return nil, drop(DropBadSignature, "sig does not verify for from %s", e.From)
	}
	if e.To != want {
		return nil, drop(DropNotForUs, "to %s", e.To)
	}
	now := p.Now.UnixMilli()
	if e.TS+e.TTLMs < now {
		return nil, drop(DropExpired, "expired %dms ago", now-(e.TS+e.TTLMs))
	}
	if e.TS > now+skew.Milliseconds() {
		return nil, drop(DropFuture, "ts %dms ahead, max skew %v", e.TS-now, skew)
	}
	key, err := shared(e.From)
	if err != nil {
		return nil, drop(DropMalformed, "from box key: %w", err)
	}
	var nonce [nonceBytes]byte
	copy(nonce[:], sealed)
	body, ok := box.OpenAfterPrecomputation(nil, sealed[nonceBytes:], &nonce, key)
	if !ok {
		return nil, drop(DropUndecryptable, "box from %s", e.From)
	}
	return &Message{
		Type: e.Type,
		ID:   e.ID,
		Re:   e.Re,
		From: e.From,
		To:   e.To,
		Sent: time.UnixMilli(e.TS),
		TTL:  time.Duration(e.TTLMs) * time.Millisecond,
		Body: body,
	}, nil
}

// check validates field syntax and returns the decoded box and signature
// (nil when sig is empty).
func (e *Envelope) check(maxTTL time.Duration, validTo func(string) error) (sealed, sig []byte, err error) {
	if err := checkType(e.Type); err != nil {
		return nil, nil, drop(DropMalformed, "type: %w", err)
	}
	if err := checkID(e.ID); err != nil {
		return nil, nil, drop(DropMalformed, "id: %w", err)
	}
	if e.Re != "" {
		if err := checkID(e.Re); err != nil {
			return nil, nil, drop(DropMalformed, "re: %w", err)
		}
	}
	if err := identity.ValidNodeID(e.From); err != nil {
		return nil, nil, drop(DropMalformed, "from: %w", err)
	}
	if err := validTo(e.To); err != nil {
		return nil, nil, drop(DropMalformed, "to: %w", err)
	}
	if e.TS <= 0 || e.TS > maxTS {
		return nil, nil, drop(DropMalformed, "ts %d out of range", e.TS)
	}
	if e.TTLMs <= 0 || e.TTLMs > maxTTL.Milliseconds() {
		return nil, nil, drop(DropMalformed, "ttl_ms %d outside 1..%d", e.TTLMs, maxTTL.Milliseconds())
	}
	sealed, err = base64.StdEncoding.Strict().DecodeString(e.Box)
	if err != nil {
		return nil, nil, drop(DropMalformed, "box: %w", err)
	}
	if len(sealed) < nonceBytes+box.Overhead {
		return nil, nil, drop(DropMalformed, "box: %d bytes, need at least %d", len(sealed), nonceBytes+box.Overhead)
	}
	if e.Sig == "" {
		return sealed, nil, nil
	}
	sig, err = base64.StdEncoding.Strict().DecodeString(e.Sig)
	if err != nil {
		return nil, nil, drop(DropMalformed, "sig: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, nil, drop(DropMalformed, "sig: %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	return sealed, sig, nil
}

func checkID(id string) error {
	if len(id) != 2*idBytes {
		return fmt.Errorf("%d characters, want %d", len(id), 2*idBytes)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("character %q at %d is not lowercase hex", c, i)
		}
	}
	return nil
}

// checkType accepts 1..32 characters of [a-z0-9_], starting with a letter.
func checkType(t string) error {
	if t == "" || len(t) > maxTypeLen {
		return fmt.Errorf("type %q: length must be 1..%d", t, maxTypeLen)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		ok := c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '_')
		if !ok {
			return fmt.Errorf("type %q: character %q at %d not allowed", t, c, i)
		}
	}
	return nil
}
