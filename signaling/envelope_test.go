package signaling_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reachd/reachd/signaling"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestSealOpenRoundTrip(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	now := time.UnixMilli(1_760_000_000_123)
	in := &signaling.Message{
		Type: "punch",
		ID:   newMsgID(t),
		Re:   newMsgID(t),
		To:   b.NodeID(),
		Sent: now,
		TTL:  12345 * time.Millisecond,
		Body: json.RawMessage(`{"port":40000}`),
	}
	data, err := signaling.Seal(a, in, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("40000")) {
		t.Errorf("body visible in the envelope: %s", data)
	}
	got, err := signaling.Open(b, data, signaling.Policy{Now: now.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	want := *in
	want.From = a.NodeID()
	if got.Type != want.Type || got.ID != want.ID || got.Re != want.Re || got.From != want.From ||
		got.To != want.To || !got.Sent.Equal(want.Sent) || got.TTL != want.TTL || string(got.Body) != string(want.Body) {
		t.Errorf("Open = %+v, want %+v", got, want)
	}
	if got.Expires() != now.Add(12345*time.Millisecond) {
		t.Errorf("Expires = %v", got.Expires())
	}
}

func TestSealRejects(t *testing.T) {
	a, b := newIdentity(t), newIdentity(t)
	now := time.Now()
	valid := func() *signaling.Message {
		return &signaling.Message{Type: "echo", ID: newMsgID(t), To: b.NodeID(), Sent: now, TTL: time.Second, Body: []byte(`{}`)}
	}
	tests := []struct {
		name string
		edit func(*signaling.Message)
		want string
	}{
		{"bad type", func(m *signaling.Message) { m.Type = "Echo" }, "type"},
		{"empty type", func(m *signaling.Message) { m.Type = "" }, "type"},
		{"bad id", func(m *signaling.Message) { m.ID = "xyz" }, "id"},
		{"bad re", func(m *signaling.Message) { m.Re = strings.ToUpper(newMsgID(t)) + "" }, "re"},
		{"bad recipient", func(m *signaling.Message) { m.To = "nobody" }, "recipient"},
		{"zero ttl", func(m *signaling.Message) { m.TTL = 0 }, "ttl"},
		{"zero time", func(m *signaling.Message) { m.Sent = time.Time{} }, "send time"},
		{"too large", func(m *signaling.Message) {
			m.Body = json.RawMessage(`"` + strings.Repeat("x", signaling.MaxMessageSize) + `"`)
		}, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := valid()
			tt.edit(m)
			_, err := signaling.Seal(a, m, rand.Reader)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Seal error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	m := valid()
	m.Body = json.RawMessage(`"` + strings.Repeat("x", signaling.MaxMessageSize) + `"`)
	if _, err := signaling.Seal(a, m, rand.Reader); !errors.Is(err, signaling.ErrTooLarge) {
		t.Errorf("oversized Seal error = %v, want ErrTooLarge", err)
	}
}

// TestOpenDrops proves each rule of Open with a crafted envelope.
func TestOpenDrops(t *testing.T) {
	a, b, c := newIdentity(t), newIdentity(t), newIdentity(t)
	now := time.UnixMilli(1_760_000_000_000)
	good := seal(t, a, b.NodeID(), "echo", now, 10*time.Second, map[string]int{"n": 1})

	tests := []struct {
		name string
		data []byte
		want signaling.DropReason
	}{
		{"oversized", append(bytes.Repeat([]byte(" "), signaling.MaxMessageSize-len(good)+1), good...), signaling.DropOversized},
		{"not json", []byte("hello"), signaling.DropMalformed},
		{"empty object", []byte("{}"), signaling.DropVersion},
		{"json array", []byte("[1]"), signaling.DropMalformed},
		{"trailing data", append(append([]byte{}, good...), []byte(" {}")...), signaling.DropMalformed},
		{"unknown field", bytes.Replace(good, []byte(`{"v":1,`), []byte(`{"v":1,"x":2,`), 1), signaling.DropMalformed},
		{"version 2", rewrite(t, good, a, func(e *signaling.Envelope) { e.V = 2 }), signaling.DropVersion},
		{"uppercase id", rewrite(t, good, a, func(e *signaling.Envelope) { e.ID = strings.ToUpper(e.ID) }), signaling.DropMalformed},
		{"short id", rewrite(t, good, a, func(e *signaling.Envelope) { e.ID = e.ID[:30] }), signaling.DropMalformed},
		{"bad re", rewrite(t, good, a, func(e *signaling.Envelope) { e.Re = "re" }), signaling.DropMalformed},
		{"bad type", rewrite(t, good, a, func(e *signaling.Envelope) { e.Type = "no/slash" }), signaling.DropMalformed},
		{"bad from", rewrite(t, good, nil, func(e *signaling.Envelope) { e.From = "x" + e.From[1:] + "x" }), signaling.DropMalformed},
		{"bad to", rewrite(t, good, a, func(e *signaling.Envelope) { e.To = "" }), signaling.DropMalformed},
		{"zero ttl", rewrite(t, good, a, func(e *signaling.Envelope) { e.TTLMs = 0 }), signaling.DropMalformed},
		{"ttl above max", rewrite(t, good, a, func(e *signaling.Envelope) { e.TTLMs = (signaling.DefaultMaxTTL + time.Millisecond).Milliseconds() }), signaling.DropMalformed},
		{"negative ts", rewrite(t, good, a, func(e *signaling.Envelope) { e.TS = -1 }), signaling.DropMalformed},
		{"huge ts", rewrite(t, good, a, func(e *signaling.Envelope) { e.TS = 1 << 62 }), signaling.DropMalformed},
		{"box not base64", rewrite(t, good, a, func(e *signaling.Envelope) { e.Box = "!!" + e.Box }), signaling.DropMalformed},
		{"box too short", rewrite(t, good, a, func(e *signaling.Envelope) { e.Box = b64(make([]byte, 39)) }), signaling.DropMalformed},
		{"sig not base64", rewrite(t, good, nil, func(e *signaling.Envelope) { e.Sig = "%%%" }), signaling.DropMalformed},
		{"sig short", rewrite(t, good, nil, func(e *signaling.Envelope) { e.Sig = b64(make([]byte, 63)) }), signaling.DropMalformed},
		{"unsigned", rewrite(t, good, nil, func(e *signaling.Envelope) { e.Sig = "" }), signaling.DropUnsigned},
		{"signed by another", rewrite(t, good, c, func(*signaling.Envelope) {}), signaling.DropBadSignature},
		{"from swapped", rewrite(t, good, nil, func(e *signaling.Envelope) { e.From = c.NodeID() }), signaling.DropBadSignature},
		{"type tampered", rewrite(t, good, nil, func(e *signaling.Envelope) { e.Type = "punch" }), signaling.DropBadSignature},
		{"ts tampered", rewrite(t, good, nil, func(e *signaling.Envelope) { e.TS++ }), signaling.DropBadSignature},
		{"re added", rewrite(t, good, nil, func(e *signaling.Envelope) { e.Re = e.ID }), signaling.DropBadSignature},
		{"not for us", seal(t, a, c.NodeID(), "echo", now, 10*time.Second, nil), signaling.DropNotForUs},
		{"expired", seal(t, a, b.NodeID(), "echo", now.Add(-11*time.Second), 10*time.Second, nil), signaling.DropExpired},
		{"future", seal(t, a, b.NodeID(), "echo", now.Add(signaling.DefaultMaxSkew+time.Millisecond), 10*time.Second, nil), signaling.DropFuture},
		{"sealed to another", rewrite(t, seal(t, a, c.NodeID(), "echo", now, 10*time.Second, nil), a,
			func(e *signaling.Envelope) { e.To = b.NodeID() }), signaling.DropUndecryptable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := signaling.Open(b, tt.data, signaling.Policy{Now: now})
			var de *signaling.DropError
			if !errors.As(err, &de) {
				t.Fatalf("Open = %+v, %v; want a DropError", m, err)
			}
			if de.Reason != tt.want {
				t.Fatalf("reason %q (%v), want %q", de.Reason, err, tt.want)
			}
		})
	}

	t.Run("edges accepted", func(t *testing.T) {
		for _, p := range []signaling.Policy{
			{Now: now.Add(10 * time.Second)},                   // ts+ttl == now: last valid instant
			{Now: now.Add(-signaling.DefaultMaxSkew)},          // ts == now+skew
			{Now: now.Add(-time.Second), MaxSkew: time.Second}, // custom skew
		} {
			if _, err := signaling.Open(b, good, p); err != nil {
				t.Errorf("Open at %v (skew %v): %v", p.Now.Sub(now), p.MaxSkew, err)
			}
		}
		if _, err := signaling.Open(b, good, signaling.Policy{Now: now.Add(-2 * time.Second), MaxSkew: time.Second}); !isDrop(err, signaling.DropFuture) {
			t.Errorf("custom skew: %v, want future", err)
		}
	})
}

func isDrop(err error, r signaling.DropReason) bool {
	var de *signaling.DropError
	return errors.As(err, &de) && de.Reason == r
}

// TestSigningBytes pins the canonical encoding documented on SigningBytes.
func TestSigningBytes(t *testing.T) {
	e := signaling.Envelope{V: 1, Type: "echo", ID: "00112233445566778899aabbccddeeff", Re: "", From: "f", To: "tt",
		TS: 1_760_000_000_000, TTLMs: 30000, Box: "Ym94", Sig: "ignored"}
	var want []byte
	want = append(want, "reachd signaling v1 sig\x00"...)
	want = binary.BigEndian.AppendUint64(want, 1)
	for _, s := range []string{"echo", "00112233445566778899aabbccddeeff", "", "f", "tt"} {
		want = binary.BigEndian.AppendUint32(want, uint32(len(s)))
		want = append(want, s...)
	}
	want = binary.BigEndian.AppendUint64(want, 1_760_000_000_000)
	want = binary.BigEndian.AppendUint64(want, 30000)
	want = append(want, 0, 0, 0, 4)
	want = append(want, "Ym94"...)
	if got := e.SigningBytes(); !bytes.Equal(got, want) {
		t.Fatalf("SigningBytes =\n%q\nwant\n%q", got, want)
	}

	// Moving bytes from one field to its neighbour changes the encoding.
	moved := e
	moved.From, moved.To = "ft", "t"
	if bytes.Equal(moved.SigningBytes(), e.SigningBytes()) {
		t.Error("from/to boundary not framed")
	}
	moved = e
	moved.Sig = "other"
	if !bytes.Equal(moved.SigningBytes(), e.SigningBytes()) {
		t.Error("sig must not be covered")
	}
}

func FuzzOpen(f *testing.F) {
	a, b := newIdentity(f), newIdentity(f)
	now := time.UnixMilli(1_760_000_000_000)
	f.Add(seal(f, a, b.NodeID(), "echo", now, 10*time.Second, map[string]string{"k": "v"}))
	f.Add(seal(f, b, b.NodeID(), "punch_reply", now, time.Minute, nil))
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := signaling.Open(b, data, signaling.Policy{Now: now})
		if err != nil {
			var de *signaling.DropError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a DropError", err)
			}
			return
		}
		if m.To != b.NodeID() || m.TTL <= 0 || m.Expires().Before(now) {
			t.Fatalf("accepted an invalid message: %+v", m)
		}
	})
}
