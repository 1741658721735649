package punch_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/reachd/reachd/punch"
)

// TestBirthdayLoopback runs both sides of a birthday punch on loopback,
// where nothing filters: every hard-side SYN reaches the easy side's
// listener, so many connections come up at once, and the two sides must
// keep the same one (the easy side's pick) and abort the rest. The easy
// side's probes go to ports nobody listens on. Afterwards no descriptor
// is left open but the two kept connections.
func TestBirthdayLoopback(t *testing.T) {
	base := fdBaseline(t)
	easyAddr := deadPort(t)
	dead := deadPort(t)
	at := time.Now().Add(50 * time.Millisecond)
	common := punch.BirthdayConfig{At: at, SYNs: 16, Spread: 50 * time.Millisecond,
		Ports: func(n int) []uint16 {
			ports := make([]uint16, n)
			for i := range ports {
				ports[i] = dead.Port()
			}
			return ports[:1]
		}}
	hardCfg, easyCfg := common, common
	hardCfg.Side, hardCfg.LocalAddr, hardCfg.Remote = punch.BirthdayHard, netip.MustParseAddrPort("127.0.0.1:0"), easyAddr
	easyCfg.Side, easyCfg.LocalAddr, easyCfg.Remote = punch.BirthdayEasy, easyAddr, netip.MustParseAddrPort("127.0.0.1:0")

	results := make(chan punchResult, 1)
	go func() {
		c, err := punch.Birthday(t.Context(), hardCfg)
		results <- punchResult{c, err}
	}()
	easy, err := punch.Birthday(t.Context(), easyCfg)
	hard := <-results
	if err != nil || hard.err != nil {
		t.Fatalf("easy: %v; hard: %v", err, hard.err)
	}
	if easy.LocalAddr().String() != hard.conn.RemoteAddr().String() || hard.conn.LocalAddr().String() != easy.RemoteAddr().String() {
		t.Fatalf("the sides kept different connections: easy %s -> %s, hard %s -> %s",
			easy.LocalAddr(), easy.RemoteAddr(), hard.conn.LocalAddr(), hard.conn.RemoteAddr())
	}
	pass(t, easy, hard.conn, "easy to hard")
	pass(t, hard.conn, easy, "hard to easy")
	if n := openFDs(t); n != base+2 {
		t.Errorf("%d descriptors open with the kept connections up, want %d", n, base+2)
	}
	easy.Close()
	hard.conn.Close()
	if n := openFDs(t); n > base {
		t.Errorf("%d descriptors open after closing, want %d", n, base)
	}
}

// TestBirthdayNoHit: a hard side whose SYNs nobody answers gives up when
// the punch's time is up, with ErrWindowClosed, and leaves nothing open.
func TestBirthdayNoHit(t *testing.T) {
	base := fdBaseline(t)
	_, err := punch.Birthday(t.Context(), punch.BirthdayConfig{
		Side: punch.BirthdayHard, LocalAddr: netip.MustParseAddrPort("127.0.0.1:0"), Remote: deadPort(t),
		SYNs: 8, Spread: 20 * time.Millisecond,
	})
	if !errors.Is(err, punch.ErrWindowClosed) {
		t.Fatalf("err %v, want ErrWindowClosed", err)
	}
	if n := openFDs(t); n > base {
		t.Errorf("%d descriptors open after the punch, want %d", n, base)
	}
}

// pass writes msg on from and reads it on to.
func pass(t *testing.T, from, to net.Conn, msg string) {
	t.Helper()
	to.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(from, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(to, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("read %q, want %q", buf, msg)
	}
}
