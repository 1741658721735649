package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
)

func TestMsgQueue(t *testing.T) {
	end := errors.New("stream ended")
	t.Run("a full queue holds the reader until the writer takes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := newMsgQueue(4)
			q.push([]byte("abcd"))
			pushed := make(chan struct{})
			go func() { q.push([]byte("ef")); close(pushed) }()
			synctest.Wait()
			select {
			case <-pushed:
				t.Fatal("push into a full queue did not wait")
			default:
			}
			if b, err := q.pop(); string(b) != "abcd" || err != nil {
				t.Fatalf("pop = %q, %v", b, err)
			}
			<-pushed
			q.close(end)
			if b, err := q.pop(); string(b) != "ef" || err != nil {
				t.Fatalf("pop = %q, %v", b, err)
			}
			if _, err := q.pop(); err != end {
				t.Fatalf("pop at the end = %v, want the close error", err)
			}
		})
	})
	t.Run("unbound lets a full queue take more", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := newMsgQueue(4)
			q.push([]byte("abcd"))
			pushed := make(chan struct{})
			go func() { q.push([]byte("ef")); close(pushed) }()
			synctest.Wait()
			q.unbound()
			<-pushed
			q.push([]byte("gh"))
			q.close(nil)
			var got strings.Builder
			if err := q.writeTo(&got); err != io.EOF || got.String() != "abcdefgh" {
				t.Fatalf("writeTo = %v, wrote %q", err, got.String())
			}
		})
	})
	t.Run("a failed writer releases the reader and drops the rest", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := newMsgQueue(4)
			q.push([]byte("abcd"))
			pushed := make(chan struct{})
			go func() { q.push([]byte("ef")); close(pushed) }()
			synctest.Wait()
			err := q.writeTo(failWriter{})
			var oe *outputError
			if !errors.As(err, &oe) {
				t.Fatalf("writeTo = %v, want an output error", err)
			}
			<-pushed
			q.push([]byte("more"))
			q.close(end)
			if b, err := q.pop(); err != end {
				t.Fatalf("pop after abort = %q, %v; want nothing but the end", b, err)
			}
		})
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
