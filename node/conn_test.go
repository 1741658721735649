package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
)

// directPair connects x to y directly and returns both ends.
func directPair(t *testing.T) (out, in *node.Conn) {
	t.Helper()
	rv := rendezvoustest.Start(t)
	x, y := nodetest.Start(t, rv), nodetest.Start(t, rv)
	addr := mustParse(t, y.Address())
	out, err := x.Connect(context.Background(), addr, []string{node.StrategyDirect})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	local := out.Info().LocalAddr
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, c := range y.Conns() {
			if c.Info().RemoteAddr == local {
				return out, c
			}
		}
	}
	t.Fatalf("no inbound connection from %s", local)
	return nil, nil
}

// waitBuffered waits until c holds at least n bytes that were not read.
func waitBuffered(t *testing.T, c *node.Conn, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); c.Buffered() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes buffered after 10s, want %d", c.Buffered(), n)
		}
	}
}

func TestConnReadInto(t *testing.T) {
	out, in := directPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Nothing sent: Wait and ReadInto wait until their context ends.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := in.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with nothing sent: %v, want the context's deadline", err)
	}
	if n, err := in.ReadInto(short, make([]byte, 10)); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read with nothing sent: %d, %v, want the context's deadline", n, err)
	}

	data := make([]byte, 4<<20)
	rand.Read(data)
	wrote := make(chan error, 1)
	go func() {
		_, err := out.Write(data)
		if err == nil {
			err = out.CloseWrite()
		}
		wrote <- err
	}()

	// Once several chunks have arrived, one read takes all of them.
	waitBuffered(t, in, 256<<10)
	buffered := in.Buffered()
	got := make([]byte, 0, len(data))
	p := make([]byte, 1<<20)
	n, err := in.ReadInto(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if n < min(buffered, len(p)) {
		t.Errorf("one read returned %d bytes of the %d that had arrived", n, buffered)
	}
	got = append(got, p[:n]...)

	// The rest, in reads of odd sizes, then the end of the stream.
	for i := 0; ; i++ {
		size := []int{1, 7, 1000, 16 << 10, 100 << 10, 1 << 20}[i%6]
		n, err := in.ReadInto(ctx, p[:size])
		got = append(got, p[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
		if n == 0 {
			t.Fatal("read returned nothing and no error")
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(data))
	}
	if err := in.Wait(ctx); err != nil {
		t.Errorf("wait at the end of the stream: %v, want nil", err)
	}
	if n, err := in.ReadInto(ctx, p); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read at the end of the stream: %d, %v, want io.EOF", n, err)
	}
	if b, err := in.Read(ctx, 10); len(b) != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("Read at the end of the stream: %q, %v, want io.EOF", b, err)
	}
}

func TestConnReadSizesToWhatArrived(t *testing.T) {
	out, in := directPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := out.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	waitBuffered(t, in, 5)
	b, err := in.Read(ctx, 1<<20)
	if string(b) != "hello" || cap(b) != 5 || err != nil {
		t.Errorf("Read: %q (cap %d), %v, want \"hello\" in a slice of 5", b, cap(b), err)
	}
}
