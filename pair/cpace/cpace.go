// Package cpace implements CPace, a balanced password-authenticated key
// exchange, in its cipher suite CPACE-RISTR255-SHA512 as
// draft-irtf-cfrg-cpace-21 specifies it: the group ristretto255
// (github.com/gtank/ristretto255) and SHA-512, in the initiator-responder
// setting, with the draft's optional explicit key confirmation.
//
// Two parties that hold the same password-related string PRS, channel
// identifier CI and session ID sid each send one public share (Ya from the
// initiator A, Yb from the responder B, with associated data ADa and ADb)
// and derive the same 64-byte intermediate session key ISK; a party with
// another PRS derives an unrelated key, and an attacker who is not a party
// learns nothing that lets it test passwords offline: each run allows one
// online guess. The package holds no state beyond one run and does no I/O.
// It builds the protocol from the library's group operations and
// crypto/sha512; it implements no group arithmetic or hash of its own.
//
// testdata/cpace-ristr255-sha512.json holds the draft's test vectors, which
// vectors_test.go checks.
package cpace

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// Sizes of the values on the wire.
const (
	PointLen = 32 // an encoded group element (Ya, Yb)
	ISKLen   = 64 // the intermediate session key
	TagLen   = 64 // a key confirmation tag (HMAC-SHA512)
)

// The draft's constants for this cipher suite.
const (
	dsi      = "CPaceRistretto255" // G_Ristretto255.DSI
	sInBytes = 128                 // SHA-512's input block size
)

// ErrInvalidShare is returned for a peer's share that does not decode to
// a group element or that makes K the neutral element: the draft says to
// abort the run.
var ErrInvalidShare = errors.New("cpace: invalid public share")

// ErrTag is returned when a peer's key confirmation tag does not match:
// it used another password (or other inputs).
var ErrTag = errors.New("cpace: key confirmation failed")

// Inputs are what both parties must agree on (PRS, CI, SID) and what this
// party sends in clear with its share (AD). Any may be empty but PRS.
type Inputs struct {
	PRS []byte // password-related string
	CI  []byte // channel identifier (not sent)
	SID []byte // session identifier (public)
	AD  []byte // this party's associated data (ADa or ADb)
}

// State is one party's run: its secret scalar and public share.
type State struct {
	in    Inputs
	y     *ristretto255.Scalar
	share []byte
}

// Start begins a run: it derives the generator from PRS, CI and SID,
// samples a scalar from r and returns the state with the public share
// (Share) to send.
func Start(in Inputs, r io.Reader) (*State, error) {
	var b [64]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("cpace: sample scalar: %w", err)
	}
	// G.sample_scalar: 64 random bytes reduced modulo the group order by
	// the library, which is uniform over the scalars.
	return startWith(in, ristretto255.NewScalar().FromUniformBytes(b[:]).Encode(nil))
}

func startWith(in Inputs, scalar []byte) (*State, error) {
	y := ristretto255.NewScalar()
	if err := y.Decode(scalar); err != nil {
		return nil, fmt.Errorf("cpace: scalar: %w", err)
	}
	g := generator(in.PRS, in.CI, in.SID)
	Y := ristretto255.NewElement().ScalarMult(y, g).Encode(nil)
	return &State{in: in, y: y, share: Y}, nil
}

// Share is this party's public share (Ya or Yb).
func (s *State) Share() []byte { return bytes.Clone(s.share) }

// FinishInitiator is A's end of the run, given B's share and ADb: the ISK.
func (s *State) FinishInitiator(yb, adb []byte) ([]byte, error) {
	k, err := s.secret(yb)
	if err != nil {
		return nil, err
	}
	return isk(s.in.SID, k, transcriptIR(s.share, s.in.AD, yb, adb)), nil
}

// FinishResponder is B's end of the run, given A's share and ADa: the ISK.
func (s *State) FinishResponder(ya, ada []byte) ([]byte, error) {
	k, err := s.secret(ya)
	if err != nil {
		return nil, err
	}
	return isk(s.in.SID, k, transcriptIR(ya, ada, s.share, s.in.AD)), nil
}

// secret is K = scalar_mult_vfy(y, X), refused when it is G.I.
func (s *State) secret(x []byte) ([]byte, error) {
	k := scalarMultVfy(s.y, x)
	if bytes.Equal(k, identity[:]) {
		return nil, ErrInvalidShare
	}
	return k, nil
}

// identity is G.I, the encoding of the neutral element.
var identity [32]byte

// scalarMultVfy is G.scalar_mult_vfy: encode(y * decode(X)), or G.I when X
// does not decode.
func scalarMultVfy(y *ristretto255.Scalar, x []byte) []byte {
	e := ristretto255.NewElement()
	if err := e.Decode(x); err != nil {
		return identity[:]
	}
	return ristretto255.NewElement().ScalarMult(y, e).Encode(nil)
}

// generator is G.calculate_generator: element_derivation of the 64-byte
// SHA-512 hash of the generator string.
func generator(prs, ci, sid []byte) *ristretto255.Element {
	h := sha512.Sum512(generatorString([]byte(dsi), prs, ci, sid, sInBytes))
	return ristretto255.NewElement().FromUniformBytes(h[:])
}

// generatorString is lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid).
func generatorString(dsi, prs, ci, sid []byte, sInBytes int) []byte {
	zpad := max(0, sInBytes-1-len(prependLen(prs))-len(prependLen(dsi)))
	return lvCat(dsi, prs, make([]byte, zpad), ci, sid)
}

// isk is H.hash(lv_cat(DSI || "_ISK", sid, K) || transcript).
func isk(sid, k, transcript []byte) []byte {
	h := sha512.New()
	h.Write(lvCat([]byte(dsi+"_ISK"), sid, k))
	h.Write(transcript)
	return h.Sum(nil)
}

// transcriptIR is lv_cat(Ya, ADa) || lv_cat(Yb, ADb).
func transcriptIR(ya, ada, yb, adb []byte) []byte {
	return append(lvCat(ya, ada), lvCat(yb, adb)...)
}

// prependLen prefixes data with its length in LEB128.
func prependLen(data []byte) []byte {
	var out []byte
	n := len(data)
	for {
		if n < 128 {
			out = append(out, byte(n))
		} else {
			out = append(out, byte(n&0x7f|0x80))
		}
		n >>= 7
		if n == 0 {
			break
		}
	}
	return append(out, data...)
}

// lvCat concatenates its arguments, each behind its length.
func lvCat(args ...[]byte) []byte {
	var out []byte
	for _, a := range args {
		out = append(out, prependLen(a)...)
	}
	return out
}

// MacKey is the key confirmation key: H.hash("CPaceMac" || sid || ISK).
func MacKey(sid, isk []byte) []byte {
	h := sha512.New()
	h.Write([]byte("CPaceMac"))
	h.Write(sid)
	h.Write(isk)
	return h.Sum(nil)
}

// Tag is a party's key confirmation tag over the message it sent:
// HMAC-SHA512(macKey, lv_cat(Y, AD)).
func Tag(macKey, share, ad []byte) []byte {
	m := hmac.New(sha512.New, macKey)
	m.Write(lvCat(share, ad))
	return m.Sum(nil)
}

// CheckTag checks the peer's tag over its share and associated data in
// constant time; ErrTag when it does not match.
func CheckTag(macKey, share, ad, tag []byte) error {
	if !hmac.Equal(Tag(macKey, share, ad), tag) {
		return ErrTag
	}
	return nil
}
