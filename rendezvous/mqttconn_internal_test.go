package rendezvous

import "testing"

// The framer follows packets however the stream is cut, and flags the
// first header announcing more than the maximum, counting its fixed header.
func TestFramer(t *testing.T) {
	const maxPacket = 200
	packet := func(typ byte, body int) []byte {
		b := []byte{typ}
		for n := body; ; {
			x := byte(n & 0x7f)
			n >>= 7
			if n > 0 {
				x |= 0x80
			}
			b = append(b, x)
			if n == 0 {
				break
			}
		}
		return append(b, make([]byte, body)...)
	}
	cat := func(ps ...[]byte) []byte {
		var out []byte
		for _, p := range ps {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name   string
		stream []byte
		size   int // of the oversized packet; 0: none
	}{
		{"small packets", cat(packet(0x10, 20), packet(0xc0, 0), packet(0x30, 150)), 0},
		{"exactly the maximum", cat(packet(0x30, maxPacket-3)), 0}, // 1 + 2 length bytes + body
		{"one over", cat(packet(0x30, 10), packet(0x30, maxPacket-2)), maxPacket + 1},
		{"huge after pings", cat(packet(0xc0, 0), packet(0xc0, 0), []byte{0x30, 0xff, 0xff, 0xff, 0x7f}), 1 + 4 + 268_435_455},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for cut := 1; cut <= len(tt.stream); cut++ { // every read size
				var f framer
				size, over := 0, false
				for b := tt.stream; len(b) > 0 && !over; {
					n := min(cut, len(b))
					size, over = f.scan(b[:n], maxPacket)
					b = b[n:]
				}
				if over != (tt.size > 0) || size != tt.size {
					t.Fatalf("reads of %d: oversized %v (size %d), want size %d", cut, over, size, tt.size)
				}
			}
		})
	}
}
