package rendezvous

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// A TCP connection to TURN that never sends a byte is closed after
// turnFirstByteTimeout; one that sent a request may then stay idle.
func TestTURNSilentConnectionClosed(t *testing.T) {
	defer func(d time.Duration) { turnFirstByteTimeout = d }(turnFirstByteTimeout)
	turnFirstByteTimeout = 200 * time.Millisecond

	s, err := New(Config{MQTTListen: "127.0.0.1:0", TURNListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	tests := []struct {
		name       string
		send       []byte
		wantClosed bool
	}{
		{name: "silent", wantClosed: true},
		// A STUN Binding request header and body (RFC 5389), nothing else.
		{name: "spoke", send: []byte{
			0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42,
			1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", s.TURNAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tt.send != nil {
				if _, err := c.Write(tt.send); err != nil {
					t.Fatal(err)
				}
				// The Binding response proves the server read the request.
				if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Read(make([]byte, 512)); err != nil {
					t.Fatalf("no binding response: %v", err)
				}
			}
			// Closed by the server well within this bound, or kept open
			// past several timeouts.
			if err := c.SetReadDeadline(time.Now().Add(5 * turnFirstByteTimeout)); err != nil {
				t.Fatal(err)
			}
			_, err = c.Read(make([]byte, 1))
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			if closed := !timedOut; closed != tt.wantClosed {
				t.Fatalf("read: %v; closed by the server = %v, want %v", err, closed, tt.wantClosed)
			}
		})
	}
}

// bindingRequest is a STUN Binding request with no attributes (RFC 5389).
var bindingRequest = []byte{
	0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42,
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
}

// The slow-header attack on TURN over TCP: a client sends part of a STUN
// header and stops. Before, the first byte lifted the only read deadline and
// pion waited for the rest for ever; now a started message must be complete
// within turnMessageTimeout.
func TestTURNPartialHeaderClosed(t *testing.T) {
	defer func(a, b time.Duration) { turnFirstByteTimeout, turnMessageTimeout = a, b }(turnFirstByteTimeout, turnMessageTimeout)
	turnFirstByteTimeout, turnMessageTimeout = time.Minute, 200*time.Millisecond

	s, err := New(Config{MQTTListen: "127.0.0.1:0", TURNListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	type part struct {
		b        []byte
		answered bool // it completes a request: wait for the response
	}
	tests := []struct {
		name       string
		parts      []part
		wantClosed bool
	}{
		{"8 bytes of a header", []part{{bindingRequest[:8], false}}, true},
		{"a request, then 8 bytes of the next", []part{{bindingRequest, true}, {bindingRequest[:8], false}}, true},
		{"a header missing its body", []part{{[]byte{0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, false}}, true},
		{"a request in two parts, then idle", []part{{bindingRequest[:8], false}, {bindingRequest[8:], true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", s.TURNAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, p := range tt.parts {
				if _, err := c.Write(p.b); err != nil {
					t.Fatal(err)
				}
				if !p.answered {
					continue
				}
				// The response proves the server read the request.
				if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Read(make([]byte, 512)); err != nil {
					t.Fatalf("no binding response: %v", err)
				}
			}
			// Closed by the server within this bound, or kept open past
			// several timeouts.
			if err := c.SetReadDeadline(time.Now().Add(10 * turnMessageTimeout)); err != nil {
				t.Fatal(err)
			}
			_, err = c.Read(make([]byte, 1))
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			if closed := !timedOut; closed != tt.wantClosed {
				t.Fatalf("read: %v; closed by the server = %v, want %v", err, closed, tt.wantClosed)
			}
		})
	}
}

func TestTURNFramer(t *testing.T) {
	stunMsg := func(bodyLen int) []byte {
		b := make([]byte, 20+bodyLen)
		copy(b, bindingRequest)
		b[2], b[3] = byte(bodyLen>>8), byte(bodyLen)
		return b
	}
	channel := func(n int) []byte { // ChannelData of n bytes, padded to 4
		b := make([]byte, 4+(n+3)&^3)
		b[0], b[1], b[2], b[3] = 0x40, 0x00, byte(n>>8), byte(n)
		return b
	}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	tests := []struct {
		name         string
		chunks       [][]byte
		mid, started bool     // after the last chunk
		whole        [][]byte // the STUN messages collected
	}{
		{"whole stun", [][]byte{stunMsg(8)}, false, false, [][]byte{stunMsg(8)}},
		{"stun header only", [][]byte{stunMsg(8)[:20]}, true, true, nil},
		{"3 header bytes", [][]byte{{0, 1, 0}}, true, true, nil},
		{"continued, not started", [][]byte{stunMsg(8)[:10], stunMsg(8)[10:15]}, true, false, nil},
		{"completed across chunks", [][]byte{stunMsg(8)[:10], stunMsg(8)[10:]}, false, false, [][]byte{stunMsg(8)}},
		{"two messages and a part", [][]byte{cat(stunMsg(4), channel(5), stunMsg(0)[:2])}, true, true, [][]byte{stunMsg(4)}},
		{"channel data padded", [][]byte{channel(5)[:9]}, true, true, nil},
		{"channel data padded, whole", [][]byte{channel(5)}, false, false, nil},
		{"empty channel data", [][]byte{channel(0)}, false, false, nil},
		{"end of one, start of next", [][]byte{stunMsg(4)[:21], cat(stunMsg(4)[21:], channel(1)[:1])}, true, true, [][]byte{stunMsg(4)}},
		{"two stun messages", [][]byte{cat(stunMsg(4), stunMsg(8)[:3]), stunMsg(8)[3:]}, false, false, [][]byte{stunMsg(4), stunMsg(8)}},
		{"too long to collect", [][]byte{stunMsg(turnMaxInspect)}, false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var whole [][]byte
			f := turnFramer{whole: func(msg []byte) { whole = append(whole, append([]byte{}, msg...)) }}
			var mid, started bool
			for _, c := range tt.chunks {
				mid, started = f.feed(c)
			}
			if mid != tt.mid || started != tt.started {
				t.Fatalf("feed = %v, %v; want %v, %v", mid, started, tt.mid, tt.started)
			}
			if len(whole) != len(tt.whole) {
				t.Fatalf("collected %d stun messages, want %d", len(whole), len(tt.whole))
			}
			for i := range whole {
				if string(whole[i]) != string(tt.whole[i]) {
					t.Errorf("stun message %d = %x, want %x", i, whole[i], tt.whole[i])
				}
			}
		})
	}
}

// TestTURNAuthRewrite checks turnPatch's patch of pion's answers (see
// turnpatch.go) message by message.
func TestTURNAuthRewrite(t *testing.T) {
	key := turn.GenerateAuthKey("u", "realm", "pass")
	a := &turnPatch{realm: "realm", keys: map[string][]byte{"u": key}}
	connBind := stun.NewType(stun.MethodConnectionBind, stun.ClassRequest)
	connBindOK := stun.NewType(stun.MethodConnectionBind, stun.ClassSuccessResponse)
	request := func(t *testing.T, typ stun.MessageType, pass string) *stun.Message {
		t.Helper()
		return stun.MustBuild(stun.TransactionID, typ, stun.RawAttribute{Type: stun.AttrConnectionID, Value: []byte{0, 0, 0, 7}},
			stun.NewUsername("u"), stun.NewRealm("realm"), stun.NewNonce("n0nce"),
			stun.MessageIntegrity(turn.GenerateAuthKey("u", "realm", pass)))
	}
	decode := func(t *testing.T, raw []byte) *stun.Message {
		t.Helper()
		m := new(stun.Message)
		if err := stun.Decode(raw, m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	t.Run("connection bind success gets message integrity", func(t *testing.T) {
		var v turnVerdicts
		req := request(t, connBind, "pass")
		a.inspect(req.Raw, &v)
		pions := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), connBindOK,
			stun.RawAttribute{Type: stun.AttrConnectionID, Value: []byte{0, 0, 0, 7}})
		got := decode(t, a.rewrite(pions.Raw, &v))
		if err := stun.MessageIntegrity(key).Check(got); err != nil {
			t.Errorf("message integrity: %v", err)
		}
		if id, _ := got.Get(stun.AttrConnectionID); string(id) != "\x00\x00\x00\x07" || got.Type != connBindOK || got.TransactionID != req.TransactionID {
			t.Errorf("got %v id %x txid %x, want the success with connection-id 7", got.Type, id, got.TransactionID)
		}
		// Once answered, the verdict is gone.
		if again := a.rewrite(pions.Raw, &v); string(again) != string(pions.Raw) {
			t.Error("a second answer to the transaction was rewritten")
		}
	})
	for _, tt := range []struct {
		name string
		user string
		pass string
	}{{"wrong password", "u", "wrong"}, {"unknown user", "nobody", "pass"}} {
		t.Run(tt.name+" gets 401", func(t *testing.T) {
			var v turnVerdicts
			req := stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
				stun.NewUsername(tt.user), stun.NewRealm("realm"), stun.NewNonce("n0nce"),
				stun.MessageIntegrity(turn.GenerateAuthKey(tt.user, "realm", tt.pass)))
			a.inspect(req.Raw, &v)
			errType := stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse)
			pions := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), errType, stun.CodeBadRequest)
			got := decode(t, a.rewrite(pions.Raw, &v))
			var code stun.ErrorCodeAttribute
			var nonce stun.Nonce
			var realm stun.Realm
			if code.GetFrom(got) != nil || code.Code != stun.CodeUnauthorized || got.Type != errType {
				t.Errorf("got %v code %d, want allocate error 401", got.Type, code.Code)
			}
			if nonce.GetFrom(got) != nil || nonce.String() != "n0nce" || realm.GetFrom(got) != nil || realm.String() != "realm" {
				t.Errorf("nonce %q realm %q, want the request's nonce and the realm", nonce, realm)
			}
		})
	}
	t.Run("other answers untouched", func(t *testing.T) {
		var v turnVerdicts
		req := request(t, connBind, "pass")
		a.inspect(req.Raw, &v)
		// A 400 for a request whose credentials were right stays 400.
		pions := stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID),
			stun.NewType(stun.MethodConnectionBind, stun.ClassErrorResponse), stun.CodeBadRequest)
		if got := a.rewrite(pions.Raw, &v); string(got) != string(pions.Raw) {
			t.Error("a 400 after good credentials was rewritten")
		}
		other := stun.MustBuild(stun.TransactionID, connBindOK)
		if got := a.rewrite(other.Raw, &v); string(got) != string(other.Raw) {
			t.Error("an answer to an unknown transaction was rewritten")
		}
		data := []byte{0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4} // ChannelData
		if got := a.rewrite(data, &v); string(got) != string(data) {
			t.Error("channel data was rewritten")
		}
	})
}
