// Command punchlab runs one side of a punch from package punch, for the
// NAT-lab benchmarks in internal/e2e that measure the punch mechanics
// without the node around them (BenchmarkBirthdayPunch). Both sides run
// on one machine, so they share its clock: -at is unix nanoseconds.
//
// It prints "ok <ms after the meeting time>" or "fail <error>".
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/reachd/reachd/punch"
)

func main() {
	local := flag.String("local", "", "local ip:port (the hard side's port is 0)")
	remote := flag.String("remote", "", "the peer's ip:port")
	at := flag.Int64("at", 0, "meeting time, unix nanoseconds")
	side := flag.String("side", "", "birthday side: hard or easy")
	syns := flag.Int("syns", 0, "birthday SYN budget (0: default)")
	verbose := flag.Bool("v", false, "debug logs on stderr")
	flag.Parse()
	cfg := punch.BirthdayConfig{
		LocalAddr: netip.MustParseAddrPort(*local),
		Remote:    netip.MustParseAddrPort(*remote),
		At:        time.Unix(0, *at),
		SYNs:      *syns,
		Side:      punch.BirthdayEasy,
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if *side == "hard" {
		cfg.Side = punch.BirthdayHard
	}
	c, err := punch.Birthday(context.Background(), cfg)
	if err != nil {
		fmt.Println("fail", err)
		os.Exit(0)
	}
	fmt.Println("ok", time.Since(cfg.At).Milliseconds())
	c.Close()
}
