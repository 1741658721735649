package punch_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reachd/reachd/punch"
)

// TestBirthdayFileLimit: a birthday punch holds no more sockets than the
// open-file limit leaves, less a reserve of 128: with room for 16 more,
// the hard side sends 16 SYNs, not its budget of 1,024, and nothing
// fails for want of a descriptor.
func TestBirthdayFileLimit(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	base := fdBaseline(t)
	lim := old
	lim.Cur = uint64(base + 128 + 16)
	if lim.Cur > old.Max {
		t.Skipf("hard file limit %d is too low", old.Max)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	_, err := punch.Birthday(t.Context(), punch.BirthdayConfig{
		Side: punch.BirthdayHard, LocalAddr: netip.MustParseAddrPort("127.0.0.1:0"), Remote: deadPort(t),
		Spread: 20 * time.Millisecond,
	})
	if !errors.Is(err, punch.ErrWindowClosed) || !strings.Contains(err.Error(), "no hit in 16 syns") {
		t.Fatalf("err %v, want ErrWindowClosed after 16 syns", err)
	}
	if n := openFDs(t); n > base {
		t.Errorf("%d descriptors open after the punch, want %d", n, base)
	}
}
