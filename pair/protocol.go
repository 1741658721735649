package pair

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/pair/cpace"
	"github.com/reachd/reachd/signaling"
)

// The exchange, J the joiner (CPace's initiator A), O the offerer (B):
//
//	J -> topic  pair_hello   {sid, Ya}                  group message on Topic(number)
//	O -> J      pair_reply   {Yb, Tb}                   or {refused} when the offer is used
//	J -> O      pair_confirm {Ta, seal_J(J's card)}     J checked Tb; a bad Tb: {Ta} alone, J stops
//	O -> J      pair_done    {seal_O(O's card)}         O checked Ta; a bad Ta: an error, the offer ends
//
// CPace's inputs: PRS the code's canonical text; CI "reachd pair v1", NUL
// and the topic; sid 16 random bytes J chose; ADa J's node ID, ADb O's (the
// node IDs that signed the messages, so the key binds both). Tb and Ta are
// the draft's key confirmation tags. The cards (peer address and host
// name) are sealed with ChaCha20-Poly1305 under keys derived from ISK by
// HKDF-SHA512 (salt sid, one key per direction, each used once). Every
// message is also a signed signaling envelope, and the direct ones are
// sealed to the recipient's node key.

// Message types.
var (
	msgHello   = signaling.NewType[hello]("pair_hello")
	msgReply   = signaling.NewType[reply]("pair_reply")
	msgConfirm = signaling.NewType[confirm]("pair_confirm")
	msgDone    = signaling.NewType[done]("pair_done")
)

type hello struct {
	SID   []byte `json:"sid"`
	Share []byte `json:"share"`
}

type reply struct {
	SID     []byte `json:"sid"` // the hello's
	Share   []byte `json:"share,omitempty"`
	Tag     []byte `json:"tag,omitempty"`
	Refused string `json:"refused,omitempty"` // the offer is used or ended
}

type confirm struct {
	Tag []byte `json:"tag"`
	Box []byte `json:"box,omitempty"`
}

type done struct {
	Box []byte `json:"box"`
}

// Card is what each side tells the other once both proved the code.
type Card struct {
	Address string `json:"address"`        // its peer address
	Host    string `json:"host,omitempty"` // its host name, a hint for a default name
}

const (
	sidLen    = 16
	protoName = "reachd pair v1"
)

// Topic is the signaling group topic of the offers of number n.
func Topic(n int) string { return signaling.GroupTopicPrefix + "pair-" + strconv.Itoa(n) }

// groupKey seals the group messages of a topic. It derives from the public
// number only: it keeps other traffic out, it hides nothing (CPace does).
func groupKey(n int) [32]byte {
	k, err := hkdf.Key(sha256.New, []byte(strconv.Itoa(n)), []byte(protoName), "group", 32)
	if err != nil {
		panic(err) // 32 bytes of SHA-256: cannot fail
	}
	return [32]byte(k)
}

func inputs(c Code, sid []byte, ad string) cpace.Inputs {
	return cpace.Inputs{PRS: []byte(c.String()), CI: []byte(protoName + "\x00" + Topic(c.Number)), SID: sid, AD: []byte(ad)}
}

// keys are what a run derives from ISK.
type keys struct {
	mac      []byte
	toOffer  []byte // seals J's card
	toJoiner []byte // seals O's card
}

func deriveKeys(isk, sid []byte) keys {
	k := keys{mac: cpace.MacKey(sid, isk)}
	var err error
	if k.toOffer, err = hkdf.Key(sha512.New, isk, sid, protoName+" joiner to offerer", chacha20poly1305.KeySize); err != nil {
		panic(err)
	}
	if k.toJoiner, err = hkdf.Key(sha512.New, isk, sid, protoName+" offerer to joiner", chacha20poly1305.KeySize); err != nil {
		panic(err)
	}
	return k
}

// seal encrypts card under key, used once (hence the zero nonce), bound to
// the sender's node ID.
func seal(key []byte, from string, c Card) ([]byte, error) {
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, make([]byte, aead.NonceSize()), plain, []byte(from)), nil
}

// open decrypts a card sealed by from and checks that its address is
// from's.
func open(key []byte, from string, box []byte) (Card, error) {
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return Card{}, err
	}
	plain, err := aead.Open(nil, make([]byte, aead.NonceSize()), box, []byte(from))
	if err != nil {
		return Card{}, fmt.Errorf("%w: card does not open", ErrBadMessage)
	}
	var c Card
	if err := json.Unmarshal(plain, &c); err != nil {
		return Card{}, fmt.Errorf("%w: card: %w", ErrBadMessage, err)
	}
	a, err := address.Parse(c.Address)
	if err != nil {
		return Card{}, fmt.Errorf("%w: card address: %w", ErrBadMessage, err)
	}
	if a.NodeID != from {
		return Card{}, fmt.Errorf("%w: card address is not the sender's", ErrBadMessage)
	}
	c.Address = a.String()
	return c, nil
}

// joinRun is the joiner's side of one exchange.
type joinRun struct {
	code    Code
	self    string
	sid     []byte
	st      *cpace.State
	offerer string
	keys    keys
}

// startJoin begins a run: the hello to publish.
func startJoin(c Code, self string, r io.Reader) (*joinRun, hello, error) {
	if r == nil {
		r = rand.Reader
	}
	sid := make([]byte, sidLen)
	if _, err := io.ReadFull(r, sid); err != nil {
		return nil, hello{}, fmt.Errorf("pair: sid: %w", err)
	}
	st, err := cpace.Start(inputs(c, sid, self), r)
	if err != nil {
		return nil, hello{}, err
	}
	return &joinRun{code: c, self: self, sid: sid, st: st}, hello{SID: sid, Share: st.Share()}, nil
}

// answer takes the offerer's reply: with a good tag, the confirm carrying
// our card; with a bad one, a confirm with our tag alone (so the offerer
// learns at once) and ErrWrongCode.
func (j *joinRun) answer(from string, rp reply, card Card) (confirm, error) {
	if rp.Refused != "" {
		return confirm{}, ErrCodeUsed // what the offerer says is not shown: it is any node's text
	}
	if len(rp.Share) != cpace.PointLen || len(rp.Tag) != cpace.TagLen {
		return confirm{}, fmt.Errorf("%w: reply", ErrBadMessage)
	}
	isk, err := j.st.FinishInitiator(rp.Share, []byte(from))
	if err != nil {
		return confirm{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	j.offerer = from
	j.keys = deriveKeys(isk, j.sid)
	cf := confirm{Tag: cpace.Tag(j.keys.mac, j.st.Share(), []byte(j.self))}
	if err := cpace.CheckTag(j.keys.mac, rp.Share, []byte(from), rp.Tag); err != nil {
		return cf, ErrWrongCode
	}
	box, err := seal(j.keys.toOffer, j.self, card)
	if err != nil {
		return confirm{}, err
	}
	cf.Box = box
	return cf, nil
}

// finish opens the offerer's card.
func (j *joinRun) finish(from string, d done) (Card, error) {
	if from != j.offerer {
		return Card{}, fmt.Errorf("%w: done from another node", ErrBadMessage)
	}
	return open(j.keys.toJoiner, from, d.Box)
}

// offerRun is the offerer's side of one exchange.
type offerRun struct {
	joiner string
	share  []byte // J's
	keys   keys
}

// answerHello runs the offerer's CPace step on a hello from node from:
// the reply to send.
func answerHello(c Code, self, from string, h hello, r io.Reader) (*offerRun, reply, error) {
	if r == nil {
		r = rand.Reader
	}
	if len(h.SID) != sidLen || len(h.Share) != cpace.PointLen {
		return nil, reply{}, fmt.Errorf("%w: hello", ErrBadMessage)
	}
	st, err := cpace.Start(inputs(c, h.SID, self), r)
	if err != nil {
		return nil, reply{}, err
	}
	isk, err := st.FinishResponder(h.Share, []byte(from))
	if err != nil {
		return nil, reply{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	o := &offerRun{joiner: from, share: h.Share, keys: deriveKeys(isk, h.SID)}
	return o, reply{Share: st.Share(), Tag: cpace.Tag(o.keys.mac, st.Share(), []byte(self))}, nil
}

// check takes the joiner's confirm: its card, and the done carrying ours;
// ErrWrongCode when its tag does not match.
func (o *offerRun) check(self, from string, cf confirm, card Card) (Card, done, error) {
	if from != o.joiner {
		return Card{}, done{}, fmt.Errorf("%w: confirm from another node", ErrBadMessage)
	}
	if err := cpace.CheckTag(o.keys.mac, o.share, []byte(from), cf.Tag); err != nil {
		return Card{}, done{}, ErrWrongCode
	}
	peer, err := open(o.keys.toOffer, from, cf.Box)
	if err != nil {
		return Card{}, done{}, err
	}
	box, err := seal(o.keys.toJoiner, self, card)
	if err != nil {
		return Card{}, done{}, err
	}
	return peer, done{Box: box}, nil
}
