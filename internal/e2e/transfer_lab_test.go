package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// transferSize is what each side sends at once, per strategy.
const transferSize = 64 << 20

// stream opens the WebSocket stream of a connection on n's API.
func (n *labNode) stream(ctx context.Context, t testing.TB, id string) *websocket.Conn {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := n.host.Do(func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
	ws, _, err := websocket.Dial(ctx, "ws://127.0.0.1:12333/v1/connections/"+id+"/stream", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("%s: stream %s: %v", n.name, id, err)
	}
	ws.SetReadLimit(1 << 20)
	return ws
}

// pump sends size pseudo-random bytes (seeded) over ws and hashes them,
// while reading and hashing what arrives until size bytes came. A rate
// above 0 paces the sending at about rate bytes a second, so a transfer
// lasts long enough for what a test does meanwhile.
func pump(ctx context.Context, ws *websocket.Conn, seed uint64, size, rate int) (sent, got [32]byte, err error) {
	errc := make(chan error, 1)
	go func() {
		h := sha256.New()
		src := rand.NewChaCha8([32]byte{byte(seed)})
		buf := make([]byte, 256<<10)
		start := time.Now()
		for off := 0; off < size; off += len(buf) {
			b := buf[:min(size-off, len(buf))]
			src.Read(b)
			h.Write(b)
			if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
				errc <- fmt.Errorf("write after %d bytes: %w", off, err)
				return
			}
			pace(start, off+len(b), rate)
		}
		copy(sent[:], h.Sum(nil))
		errc <- nil
	}()
	h := sha256.New()
	for n := 0; n < size; {
		_, r, err := ws.Reader(ctx)
		if err != nil {
			return sent, got, fmt.Errorf("read after %d bytes: %w", n, err)
		}
		m, err := io.Copy(h, r)
		if err != nil {
			return sent, got, err
		}
		n += int(m)
	}
	copy(got[:], h.Sum(nil))
	return sent, got, <-errc
}

// pace waits until sending done bytes from start at rate bytes a second
// is due; a rate of 0 does not wait. Pacing, not synchronisation.
func pace(start time.Time, done, rate int) {
	if rate <= 0 {
		return
	}
	if ahead := time.Duration(float64(done)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
		time.Sleep(ahead)
	}
}

// TestTransferEachStrategy sends 64 MiB each way at once over a connection
// made by each strategy in the lab, through the API's WebSocket streams, and
// checks that both sides receive exactly what the other sent.
func TestTransferEachStrategy(t *testing.T) {
	nodes, _ := labMatrix(t)
	for _, tt := range []struct{ strategy, from, to string }{
		{"direct", "easy-a", "public-b"},
		{"reverse", "public-a", "easy-b"},
		{"punch", "easy-a", "easy-b"},
		{"relay", "hard-a", "hard-b"},
	} {
		t.Run(tt.strategy, func(t *testing.T) {
			from, to := nodes[tt.from], nodes[tt.to]
			status, c := connect(t, from, to, tt.strategy)
			if status != http.StatusCreated {
				t.Fatalf("connect: %d %s", status, c.Detail)
			}
			in := to.inbound(t, from.info.NodeID, tt.strategy)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			wsA, wsB := from.stream(ctx, t, c.ID), to.stream(ctx, t, in.ID)
			defer wsA.CloseNow()
			defer wsB.CloseNow()

			start := time.Now()
			type result struct {
				sent, got [32]byte
				err       error
			}
			resA, resB := make(chan result, 1), make(chan result, 1)
			go func() { s, g, err := pump(ctx, wsA, 1, transferSize, 0); resA <- result{s, g, err} }()
			go func() { s, g, err := pump(ctx, wsB, 2, transferSize, 0); resB <- result{s, g, err} }()
			a, b := <-resA, <-resB
			if a.err != nil || b.err != nil {
				t.Fatalf("transfer: %v / %v", a.err, b.err)
			}
			elapsed := time.Since(start)
			if !bytes.Equal(a.sent[:], b.got[:]) || !bytes.Equal(b.sent[:], a.got[:]) {
				t.Fatalf("SHA-256 differ: a sent %x, b got %x; b sent %x, a got %x", a.sent, b.got, b.sent, a.got)
			}
			t.Logf("%s: 2 x %d MiB in %v (%.0f MiB/s each way)", tt.strategy, transferSize>>20, elapsed.Round(time.Millisecond),
				float64(transferSize>>20)/elapsed.Seconds())
			from.close(t, c.ID)
		})
	}
}
