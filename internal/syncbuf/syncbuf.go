// Package syncbuf is a bytes.Buffer that goroutines may write to while
// another reads it: the output of a child process or a logger, read by a
// test.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects bytes; its methods may be called at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
