package session

import (
	"encoding/binary"
	"sync"
)

// sendChunk is the unit of the send buffer. Chunks sit at offsets that are
// multiples of sendChunk, so an offset finds its chunk by division.
const sendChunk = 64 << 10

var sendChunks = sync.Pool{New: func() any { return new([sendChunk]byte) }}

// sendBuffer holds the link's reliable byte stream from the oldest byte
// the peer may still need (base, rounded down to a chunk) to the end of
// what was written. Chunks come from a pool and go back when acknowledged,
// so an idle link holds none. Not safe for concurrent use: the link's mutex
// guards it.
type sendBuffer struct {
	chunks []*[sendChunk]byte
	base   int64 // offset of chunks[0][0]
	end    int64 // offset after the last byte written
}

// append copies b to the end of the stream.
func (s *sendBuffer) append(b []byte) {
	for len(b) > 0 {
		i := int((s.end - s.base) / sendChunk)
		if i == len(s.chunks) {
			s.chunks = append(s.chunks, sendChunks.Get().(*[sendChunk]byte))
		}
		n := copy(s.chunks[i][s.end%sendChunk:], b)
		s.end += int64(n)
		b = b[n:]
	}
}

// frame appends a frame: header and payload.
func (s *sendBuffer) frame(t frameType, stream uint32, payload []byte) {
	var h [headerLen]byte
	s.append(appendHeader(h[:0], t, stream, len(payload)))
	s.append(payload)
}

// slice returns the stored bytes from off on, up to the end of off's chunk
// and at most max bytes. The bytes stay valid until release passes them.
func (s *sendBuffer) slice(off int64, max int) []byte {
	if off >= s.end {
		return nil
	}
	c := s.chunks[(off-s.base)/sendChunk]
	lo := int(off % sendChunk)
	hi := sendChunk
	if rest := s.end - off; int64(hi-lo) > rest {
		hi = lo + int(rest)
	}
	if hi-lo > max {
		hi = lo + max
	}
	return c[lo:hi]
}

// frameLen returns the length of the frame starting at off (a frame
// boundary before end).
func (s *sendBuffer) frameLen(off int64) int64 {
	var h [headerLen]byte
	for i := range h {
		o := off + int64(i)
		h[i] = s.chunks[(o-s.base)/sendChunk][o%sendChunk]
	}
	return headerLen + int64(binary.BigEndian.Uint32(h[5:9]))
}

// release returns the chunks wholly before off to the pool.
func (s *sendBuffer) release(off int64) {
	n := 0
	for n < len(s.chunks) && s.base+sendChunk <= off {
		sendChunks.Put(s.chunks[n])
		s.chunks[n] = nil
		s.base += sendChunk
		n++
	}
	if n > 0 {
		k := copy(s.chunks, s.chunks[n:])
		clear(s.chunks[k:])
		s.chunks = s.chunks[:k]
		if k == 0 {
			s.base = s.end - s.end%sendChunk
		}
	}
}

// free returns every chunk to the pool.
func (s *sendBuffer) free() {
	for i, c := range s.chunks {
		sendChunks.Put(c)
		s.chunks[i] = nil
	}
	s.chunks = nil
}
