package rendezvous

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// FuzzSTUNAnswer feeds the STUN server's request path arbitrary datagrams:
// it never panics, and whatever it answers is a Binding response to the
// request's transaction, the RFC 3489 ones with the request's whole ID.
func FuzzSTUNAnswer(f *testing.F) {
	s, err := NewSTUNServer(STUNConfig{Listen: []string{"127.0.0.1:0", "127.0.0.2:0"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	stuntman := []byte{0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 3, 0, 4, 0, 0, 0, 6}
	f.Add(stuntman, true)
	f.Add(stuntman, false)
	classic := append([]byte{}, stuntman...)
	classic[4] = 0x7f
	f.Add(classic, true)
	f.Add(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.RawAttribute{Type: stun.AttrPadding, Value: make([]byte, 8)}, stun.Fingerprint).Raw, true)

	src := netip.MustParseAddrPort("127.0.0.1:5000")
	f.Fuzz(func(t *testing.T, data []byte, udp bool) {
		buf := append([]byte{}, data...)
		var cookie [4]byte
		classic := false
		if !stun.IsMessage(buf) {
			if !udp {
				return // TCP closes the connection
			}
			if cookie, classic = rfc3489Request(buf); !classic {
				return
			}
		}
		req := new(stun.Message)
		if stun.Decode(buf, req) != nil {
			return
		}
		resp, _, ok := s.answer(req, src, s.primary, udp, classic)
		if !ok {
			return
		}
		if classic {
			classicAnswer(resp, cookie)
			if !bytes.Equal(resp.Raw[4:20], data[4:20]) {
				t.Fatalf("rfc 3489 answer has transaction id %x, want %x", resp.Raw[4:20], data[4:20])
			}
			binary.BigEndian.PutUint32(resp.Raw[4:8], stunMagicCookie)
		}
		var got stun.Message
		if err := stun.Decode(resp.Raw, &got); err != nil {
			t.Fatalf("answer does not decode: %v", err)
		}
		if got.Type.Method != stun.MethodBinding || got.TransactionID != req.TransactionID {
			t.Fatalf("answer %v for transaction %x, want a binding response for %x", got.Type, got.TransactionID, req.TransactionID)
		}
	})
}

// FuzzTURNPatch feeds turnPatch what a client could send and what pion
// could answer: it never panics, and what it changes is a STUN message of
// the same type and transaction.
func FuzzTURNPatch(f *testing.F) {
	key := turn.GenerateAuthKey("u", "r", "p")
	p := &turnPatch{realm: "r", keys: map[string][]byte{"u": key}}
	req := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodConnectionBind, stun.ClassRequest),
		stun.NewUsername("u"), stun.NewRealm("r"), stun.NewNonce("n"), stun.MessageIntegrity(key))
	ok := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.NewType(stun.MethodConnectionBind, stun.ClassSuccessResponse),
		stun.RawAttribute{Type: stun.AttrConnectionID, Value: []byte{0, 0, 0, 1}})
	bad := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.NewType(stun.MethodConnectionBind, stun.ClassErrorResponse), stun.CodeBadRequest)
	f.Add(req.Raw, ok.Raw)
	f.Add(req.Raw, bad.Raw)
	f.Add([]byte{}, stun.MustBuild(stun.TransactionID, stun.BindingSuccess, &stun.XORMappedAddress{IP: []byte{1, 2, 3, 4}, Port: 5}).Raw)
	f.Add([]byte{0x40, 0, 0, 1, 9}, []byte{0x40, 0, 0, 1, 9})
	f.Fuzz(func(t *testing.T, in, out []byte) {
		var v turnVerdicts
		p.inspect(append([]byte{}, in...), &v)
		orig := append([]byte{}, out...)
		got := p.rewrite(out, &v)
		if !bytes.Equal(out, orig) {
			t.Fatal("rewrite modified its input")
		}
		if bytes.Equal(got, orig) {
			return
		}
		var m stun.Message
		if err := stun.Decode(got, &m); err != nil {
			t.Fatalf("rewritten answer does not decode: %v", err)
		}
		if !bytes.Equal(got[0:2], orig[0:2]) || !bytes.Equal(got[8:20], orig[8:20]) {
			t.Fatalf("rewritten answer %x, want the type and transaction of %x", got[:20], orig[:20])
		}
	})
}
