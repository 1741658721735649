package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// decodeFrames parses a byte stream of whole frames, checking each
// type's payload, and re-encodes every frame it accepts.
func decodeFrames(data []byte) (reencoded []byte, err error) {
	for len(data) > 0 {
		h, err := parseHeader(data)
		if err != nil {
			return reencoded, err
		}
		if len(data) < h.size() {
			return reencoded, errors.New("truncated frame")
		}
		p := data[headerLen:h.size()]
		switch h.typ {
		case frameHello:
			hl, err := parseHello(p)
			if err != nil {
				return reencoded, err
			}
			reencoded = appendHello(reencoded, hl)
		case frameOpen:
			oh, err := parseOpen(p)
			if err != nil {
				return reencoded, err
			}
			reencoded = appendOpen(reencoded, h.stream, oh)
		case frameResend, frameAck, framePing, framePong:
			reencoded = appendU64(reencoded, h.typ, binary.BigEndian.Uint64(p))
		default:
			reencoded = appendHeader(reencoded, h.typ, h.stream, len(p))
			reencoded = append(reencoded, p...)
		}
		data = data[h.size():]
	}
	return reencoded, nil
}

func TestCodec(t *testing.T) {
	nonce := [16]byte{1, 2, 3}
	valid := func(b []byte) []byte { return b }
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"hello", valid(appendHello(nil, hello{Version: 1, Mine: nonce, Received: 42})), true},
		{"hello without nonce", valid(appendHello(nil, hello{Version: 1})), false},
		{"open", appendOpen(nil, 3, Header{Service: "tap", Kind: KindFrames}), true},
		{"open unknown kind", appendOpen(nil, 3, Header{Service: "x", Kind: 9}), false},
		{"open on stream 0", appendOpen(nil, 0, Header{}), false},
		{"data", append(appendHeader(nil, frameData, 5, 3), 'a', 'b', 'c'), true},
		{"empty data", appendHeader(nil, frameData, 5, 0), false},
		{"data too long", appendHeader(nil, frameData, 5, MaxPayload+1), false},
		{"window", append(appendHeader(nil, frameWindow, 5, 4), 0, 0, 1, 0), true},
		{"window short", append(appendHeader(nil, frameWindow, 5, 2), 0, 1), false},
		{"fin", appendHeader(nil, frameFin, 5, 0), true},
		{"fin with payload", append(appendHeader(nil, frameFin, 5, 1), 0), false},
		{"abort", append(appendHeader(nil, frameAbort, 5, 4), "gone"...), true},
		{"close", append(appendHeader(nil, frameClose, 0, 4), "done"...), true},
		{"close on a stream", appendHeader(nil, frameClose, 1, 0), false},
		{"ack", appendU64(nil, frameAck, 1<<40), true},
		{"ack on a stream", append(appendHeader(nil, frameAck, 1, 8), make([]byte, 8)...), false},
		{"unknown type", appendHeader(nil, 0x42, 0, 0), false},
		{"short header", []byte{2, 0, 0}, false},
		{"truncated", appendHeader(nil, frameData, 5, 10), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := decodeFrames(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("decode: %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && !bytes.Equal(out, tc.in) {
				t.Fatalf("re-encoded %x, want %x", out, tc.in)
			}
		})
	}
}

func FuzzFrames(f *testing.F) {
	f.Add(appendHello(nil, hello{Version: 1, Mine: [16]byte{9}, Yours: [16]byte{8}, Received: 7}))
	f.Add(append(appendOpen(nil, 1, Header{Service: "svc"}), append(appendHeader(nil, frameData, 1, 2), 'h', 'i')...))
	f.Add(appendU64(appendU64(nil, frameResend, 0), frameAck, 99))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := decodeFrames(data)
		// What was accepted re-encodes to the same bytes.
		if !bytes.Equal(out, data[:len(out)]) {
			t.Fatalf("re-encoded %x, input %x", out, data)
		}
		if err == nil && len(out) != len(data) {
			t.Fatalf("accepted %d of %d bytes", len(out), len(data))
		}
	})
}
