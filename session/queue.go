package session

import "sync"

// recvChunk is the unit of a stream's receive queue.
const recvChunk = 16 << 10

var recvChunks = sync.Pool{New: func() any { return new([recvChunk]byte) }}

// recvQueue holds a stream's received bytes not yet read, in pooled
// chunks; an empty queue holds none.
type recvQueue struct {
	chunks []*[recvChunk]byte
	r, w   int // read offset in chunks[0], write offset in the last
	n      int
}

func (q *recvQueue) push(p []byte) {
	q.n += len(p)
	for len(p) > 0 {
		if len(q.chunks) == 0 || q.w == recvChunk {
			q.chunks = append(q.chunks, recvChunks.Get().(*[recvChunk]byte))
			q.w = 0
		}
		c := copy(q.chunks[len(q.chunks)-1][q.w:], p)
		q.w += c
		p = p[c:]
	}
}

func (q *recvQueue) read(p []byte) int {
	total := 0
	for len(p) > 0 && q.n > 0 {
		end := recvChunk
		if len(q.chunks) == 1 {
			end = q.w
		}
		c := copy(p, q.chunks[0][q.r:end])
		q.r += c
		q.n -= c
		p = p[c:]
		total += c
		if q.r == end {
			recvChunks.Put(q.chunks[0])
			k := copy(q.chunks, q.chunks[1:])
			q.chunks[k] = nil
			q.chunks = q.chunks[:k]
			q.r = 0
			if k == 0 {
				q.w = 0
			}
		}
	}
	return total
}

func (q *recvQueue) reset() {
	for _, c := range q.chunks {
		recvChunks.Put(c)
	}
	clear(q.chunks)
	q.chunks = q.chunks[:0]
	q.r, q.w, q.n = 0, 0, 0
}
