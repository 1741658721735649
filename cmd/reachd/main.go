// Command reachd is the reachd daemon and its command-line clients.
//
// It only wires: flags and REACHD_* environment variables into a Config,
// signal handling, and Run(ctx) of one role.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `reachd: reach any peer, wherever both sit behind NATs

usage:
  reachd run [flags]          run the node daemon
  reachd rendezvous [flags]   run the public-side services (MQTT broker, STUN, TURN)
  reachd demo [flags]         a rendezvous and two nodes on loopback
  reachd help                 this text

Every flag of run and rendezvous can also be set as REACHD_<NAME>
(for example --mqtt as REACHD_MQTT, --api-token as REACHD_API_TOKEN).
Run "reachd <command> -h" for a command's flags.
`

type command struct {
	name string
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"run", runNode},
	{"rendezvous", runRendezvous},
	{"demo", runDemo},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a command and maps its error to an exit code:
// 0 success, 2 usage errors, 1 anything else.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		var ue usageError
		switch {
		case err == nil, errors.Is(err, errHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "reachd %s: %v\n", name, err)
			fmt.Fprintf(stderr, "run \"reachd %s -h\" for usage\n", name)
			return 2
		default:
			fmt.Fprintf(stderr, "reachd %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "reachd: unknown command %q\n\n%s", name, usage)
	return 2
}
