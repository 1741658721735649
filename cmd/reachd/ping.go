package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
)

const pingUsage = `usage: reachd ping [flags] PEER

Measures round trips over the data path to the peer at address PEER (the
path of the node's link with it: direct, reverse, punch or relay), printing
each round trip and which strategy's path answered. With no path to the
peer, or with --fresh, the node first races the strategies for one, as a
connect does, but opens no connection. (reachd status shows the paths;
signaling round trips are POST /v1/echo.)

flags:
`

// pingRequest is the body of POST /v1/ping.
type pingRequest struct {
	Address    string   `json:"address"`
	Count      int      `json:"count,omitempty"`
	Fresh      bool     `json:"fresh,omitempty"`
	Strategies []string `json:"strategies,omitempty"`
	TimeoutMS  int64    `json:"timeout_ms"`
}

func runPing(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd ping", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), pingUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
	count := fs.Int("c", 4, "how many round trips (`count`, 1 to 100)")
	fresh := fs.Bool("fresh", false, "race the strategies for a new path first (it then carries all the peer's connections)")
	var strategies listFlag
	fs.Var(&strategies, "strategies", "`list` of strategies a race may use, comma-separated (default: all)")
	timeout := fs.Duration("timeout", 20*time.Second, "give up a race or a round trip after this `duration`")
	asJSON := fs.Bool("json", false, "print POST /v1/ping's JSON (all round trips in one answer)")
	pos, err := parseFlags(fs, args, stderr, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] == "" {
		return usagef("missing the PEER's address")
	}
	if *count < 1 || *count > node.MaxPingCount {
		return usagef("-c %d: want 1 to %d", *count, node.MaxPingCount)
	}
	if *timeout < time.Millisecond {
		return usagef("--timeout %v: want at least 1ms", *timeout)
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	req := pingRequest{Address: pos[0], Fresh: *fresh, Strategies: strategies.items, TimeoutMS: timeout.Milliseconds()}
	peer := "the peer"
	if a, err := address.Parse(pos[0]); err == nil {
		peer = a.NodeID
	}
	if *asJSON {
		req.Count = *count
		var res node.PingResult
		if err := c.ping(ctx, req, peer, &res); err != nil {
			return err
		}
		return writeJSONTo(stdout, res)
	}
	// One request per round trip, so each is printed as it comes.
	for i := range *count {
		var res node.PingResult
		if err := c.ping(ctx, req, peer, &res); err != nil {
			return err
		}
		if i == 0 && len(res.Attempts) > 0 {
			for _, a := range res.Attempts {
				fmt.Fprintln(stdout, formatAttempt(a))
			}
		}
		for _, p := range res.Pings {
			fmt.Fprintf(stdout, "pong from %s via %s in %.2fms\n", shortID(res.PeerID), p.Strategy, p.RTTMS)
		}
		req.Fresh = false
	}
	return nil
}

// ping posts one ping request; a failed race is a *connectError with the
// node's verdict.
func (c *apiClient) ping(ctx context.Context, req pingRequest, peer string, out *node.PingResult) error {
	pctx, cancel := context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond+30*time.Second)
	defer cancel()
	err := c.postJSON(pctx, "/v1/ping", req, out)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusBadGateway && ae.Problem.Verdict != "" {
		return &connectError{peer: peer, verdict: ae.Problem.Verdict, attempts: ae.Problem.Attempts, detail: ae.Problem.Detail}
	}
	return err
}
