package signaling_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/reachd/reachd/identity"
	"github.com/reachd/reachd/signaling"
)

func newIdentity(tb testing.TB) *identity.Identity {
	tb.Helper()
	id, err := identity.LoadOrCreate(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func newMsgID(tb testing.TB) string {
	tb.Helper()
	id, err := signaling.NewID(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// seal returns a valid envelope of type typ from from to to.
func seal(tb testing.TB, from *identity.Identity, to, typ string, sent time.Time, ttl time.Duration, body any) []byte {
	tb.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	m := &signaling.Message{Type: typ, ID: newMsgID(tb), To: to, Sent: sent, TTL: ttl, Body: raw}
	data, err := signaling.Seal(from, m, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// rewrite decodes an envelope, applies f and re-encodes it. With a non-nil
// signer the envelope is signed again by it after f; otherwise sig is kept
// as f left it.
func rewrite(tb testing.TB, data []byte, signer *identity.Identity, f func(*signaling.Envelope)) []byte {
	tb.Helper()
	var e signaling.Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		tb.Fatal(err)
	}
	f(&e)
	if signer != nil {
		e.Sig = b64(signer.Sign(e.SigningBytes()))
	}
	out, err := json.Marshal(&e)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// startClient starts a Client on brokers and closes it when the test ends.
func startClient(tb testing.TB, id *identity.Identity, brokers []string, edit ...func(*signaling.Config)) *signaling.Client {
	tb.Helper()
	cfg := signaling.Config{
		Identity:             id,
		Brokers:              brokers,
		ConnectRetryInterval: 100 * time.Millisecond,
		MaxReconnectInterval: 200 * time.Millisecond,
		ConnectTimeout:       5 * time.Second,
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := signaling.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		tb.Fatalf("start: %v", err)
	}
	return c
}

// waitBrokers waits until c reports exactly the connected offsets want.
func waitBrokers(tb testing.TB, c *signaling.Client, want ...int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		ch := c.Changes()
		got := c.ConnectedOffsets()
		if equalInts(got, want) {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			tb.Fatalf("connected offsets %v, want %v; brokers %+v", got, want, c.Brokers())
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkLeaks makes the test fail if, once its cleanups ran, a goroutine
// owned by a Client is still running: Close must have waited for all of them.
// Call it first, so that its check runs after every Close.
func checkLeaks(tb testing.TB) {
	tb.Cleanup(func() { checkNoClientGoroutines(tb) })
}

func checkNoClientGoroutines(tb testing.TB) {
	tb.Helper()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, owned := range []string{"signaling.(*Client).work", "signaling.(*broker).run"} {
			if strings.Contains(g, owned) {
				tb.Errorf("goroutine left after Close:\n%s", g)
			}
		}
	}
}

// signedIn makes o sign in to the broker at url as a new node: the
// stranger with a key that anyone can be.
func signedIn(tb testing.TB, o *mqtt.ClientOptions, url string) *mqtt.ClientOptions {
	tb.Helper()
	id := newIdentity(tb)
	addr, err := signaling.BrokerAddr(url)
	if err != nil {
		tb.Fatal(err)
	}
	return o.SetCredentialsProvider(func() (string, string) {
		return id.NodeID(), signaling.LoginPassword(id, addr, time.Now())
	})
}
