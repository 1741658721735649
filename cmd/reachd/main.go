// Command reachd is the reachd daemon and its command-line clients.
//
// The daemon roles (run, rendezvous, demo) only wire: flags and REACHD_*
// environment variables into a Config, signal handling, and Run(ctx) of one
// role. The clients (status, connect, nc) only speak HTTP to a running
// node's REST API; they share no state with the daemon.
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
  reachd run [flags]                run the node daemon (REST API on 127.0.0.1:12333)
  reachd rendezvous [flags]         run the public-side services (MQTT broker, STUN, TURN)
  reachd status [--json]            show the running node: NAT, brokers, clock, connections, peers
  reachd connect [flags] ADDRESS    connect the node to a peer, showing each strategy's progress
  reachd ping [flags] PEER          round trips over the data path to a peer, and which strategy answered
  reachd nc [flags] ADDRESS         connect, then copy stdin to the peer and the peer to stdout
  reachd nc [flags] --id ID         the same over an existing connection
  reachd network join NAME --secret S [--ip CIDR|auto]
                                    join a named network: a virtual LAN of peers
  reachd network leave NAME         leave it
  reachd network list [--json]      the joined networks and their members
  reachd serve NAME TARGET [--udp] --allow ID|any ...
                                    offer a local service to peers (no argument: list;
                                    --off NAME: remove)
  reachd forward PEER/SERVICE [--listen ADDR] [--udp]
                                    reach a peer's service on a local port (no argument:
                                    list; --off ID: remove)
  reachd nc PEER/SERVICE            stdin and stdout to a peer's service (ssh ProxyCommand)
  reachd peers [add NAME PEER | rm NAME]
                                    the address book: names for peers, usable as PEER
  reachd pair [--name NAME]         offer a pairing code and wait; reachd pair CODE --name NAME
                                    on the other machine: each saves the other in its book
  reachd names [register NAME | rm NAME | NAME]
                                    public names on the name services (list, register,
                                    drop, resolve)
  reachd demo [--once]              a rendezvous and two connected nodes on loopback
  reachd version [--json]           the version and the commit built
  reachd completion bash|zsh|fish   a shell completion script
  reachd help                       this text

status, connect, ping, nc, network, serve, forward, peers, pair and names talk to a node's REST API:
--api host:port (default 127.0.0.1:12333) and --api-token T when it has a token.

Every flag can also be set as REACHD_<NAME> (for example --mqtt as
REACHD_MQTT, --api as REACHD_API, --api-token as REACHD_API_TOKEN), and run
and rendezvous read a TOML file of flags with --config FILE; a flag beats
its variable, which beats the file.
Run "reachd <command> -h" for a command's flags.

Exit codes: 0 success, 1 failure, 2 bad input.
`

type command struct {
	name string
	run  func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

var commands = []command{
	{"run", runNode},
	{"rendezvous", runRendezvous},
	{"status", runStatus},
	{"connect", runConnect},
	{"ping", runPing},
	{"nc", runNC},
	{"network", runNetwork},
	{"serve", runServe},
	{"forward", runForward},
	{"demo", runDemo},
	{"version", runVersion},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a command and maps its error to an exit code:
// 0 success, 2 bad input (usage errors, and requests the API refused as
// bad), 1 anything else.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
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
		err := c.run(ctx, args[1:], stdin, stdout, stderr)
		var ue usageError
		var ae *apiError
		switch {
		case err == nil, errors.Is(err, errHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "reachd %s: %v\n", name, err)
			fmt.Fprintf(stderr, "run \"reachd %s -h\" for usage\n", name)
			return 2
		case errors.As(err, &ae) && ae.badInput():
			fmt.Fprintf(stderr, "reachd %s: %v\n", name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "reachd %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "reachd: unknown command %q\n\n%s", name, usage)
	return 2
}
