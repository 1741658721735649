// Package acceptortest helps test accept loops against a file table that
// is really full: it fills the table, and counts the log lines written
// meanwhile.
package acceptortest

import (
	"bytes"
	"io"
	"sync"
)

// LineCounter passes what is written on to W and counts the lines that
// contain Substr.
type LineCounter struct {
	W      io.Writer
	Substr string

	mu sync.Mutex
	n  int
}

func (c *LineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	for _, l := range bytes.Split(p, []byte("\n")) {
		if bytes.Contains(l, []byte(c.Substr)) {
			c.n++
		}
	}
	c.mu.Unlock()
	return c.W.Write(p)
}

// Count is how many lines so far contained Substr.
func (c *LineCounter) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
