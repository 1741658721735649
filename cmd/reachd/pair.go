package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reachd/reachd/node"
)

const pairUsage = `usage:
  reachd pair [--name NAME]        offer a pairing code, and wait for the other machine
  reachd pair CODE --name NAME     join the pairing of CODE on the other machine

The first prints a code of a number and three words (as 4821-amber-falcon-river),
valid for 10 minutes and one use, and waits. The second, given that code,
completes the pairing: the two nodes prove they hold the same code (CPace, a
password-authenticated key exchange, over signaling), exchange their
addresses, and each saves the other in its address book (reachd peers): the
joining side under NAME, the offering side under its --name, or else the
peer's host name. The first try of a code uses it: a mistyped code ends the
offer on both sides; start again with a new code.

flags:
`

// pairJoinTimeout bounds a join: a few signaling round trips, or the
// node's 15 s wait for an offer that does not answer.
const pairJoinTimeout = 60 * time.Second

func init() {
	commands = append(commands, command{"pair", runPair})
}

func runPair(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd pair", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), pairUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
	name := fs.String("name", "", "the name to save the other node under (required with CODE)")
	asJSON := fs.Bool("json", false, "print the saved peer as JSON")
	pos, err := parseFlags(fs, args, stderr, 1)
	if err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		if *name == "" {
			return usagef("joining a pairing needs --name NAME: what to call the other node")
		}
		return pairJoin(ctx, c, pos[0], *name, *asJSON, stdout)
	}
	return pairOffer(ctx, c, *name, *asJSON, stdout)
}

func pairJoin(ctx context.Context, c *apiClient, code, name string, asJSON bool, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, pairJoinTimeout)
	defer cancel()
	var p node.Peer
	if err := c.postJSON(ctx, "/v1/pair/join", map[string]string{"code": code, "name": name}, &p); err != nil {
		return err
	}
	return printPaired(stdout, p, asJSON)
}

func printPaired(w io.Writer, p node.Peer, asJSON bool) error {
	if asJSON {
		return writeJSONTo(w, p)
	}
	fmt.Fprintf(w, "paired: saved %s as %s\n", p.NodeID, p.Name)
	return nil
}

// pairOffer opens an offer, prints its code and follows the node's events
// until the pairing completes, fails or expires.
func pairOffer(ctx context.Context, c *apiClient, name string, asJSON bool, stdout io.Writer) error {
	// The event stream opens first, so the outcome cannot come before it.
	evs, stop, err := c.followPairs(ctx)
	if err != nil {
		return err
	}
	defer stop()
	req := map[string]string{}
	if name != "" {
		req["name"] = name
	}
	var offer node.PairOffer
	postCtx, cancel := context.WithTimeout(ctx, serviceTimeout)
	err = c.postJSON(postCtx, "/v1/pair", req, &offer)
	cancel()
	if err != nil {
		return err
	}
	number, _, _ := strings.Cut(offer.Code, "-")
	fmt.Fprintf(stdout, "pairing code: %s\n", offer.Code)
	fmt.Fprintf(stdout, "on the other machine run:  reachd pair %s --name NAME\n", offer.Code)
	fmt.Fprintf(stdout, "valid until %s, for one use; waiting...\n", offer.ExpiresAt.Local().Format(time.TimeOnly))
	for {
		select {
		case <-ctx.Done():
			return errInterrupted
		case ev, ok := <-evs:
			if !ok {
				return errors.New("the node's event stream ended before the pairing did")
			}
			if ev.Role != "offer" || strconv.Itoa(ev.Offer) != number {
				continue
			}
			switch ev.State {
			case "started":
				fmt.Fprintf(stdout, "node %s is joining; checking the code...\n", ev.Peer)
			case "completed":
				if asJSON && fetchPeer(ctx, c, ev.Name, stdout) {
					return nil
				}
				return printPaired(stdout, node.Peer{Name: ev.Name, NodeID: ev.Peer}, asJSON)
			case "failed":
				return fmt.Errorf("pairing failed: %s", ev.Reason)
			case "expired":
				return errors.New("the code expired unused")
			}
		}
	}
}

// fetchPeer prints the saved peer from the address book as JSON; false
// when it is not there (then the caller prints what the event said).
func fetchPeer(ctx context.Context, c *apiClient, name string, stdout io.Writer) bool {
	var book struct {
		Peers []node.Peer `json:"peers"`
	}
	ctx, cancel := context.WithTimeout(ctx, serviceTimeout)
	defer cancel()
	if c.getJSON(ctx, "/v1/peers", &book) != nil {
		return false
	}
	for _, p := range book.Peers {
		if p.Name == name {
			writeJSONTo(stdout, p)
			return true
		}
	}
	return false
}

// followPairs follows GET /v1/events and sends the pairing events on the
// returned channel, closed when the stream ends. stop ends it and waits
// for its reader.
func (c *apiClient) followPairs(ctx context.Context) (<-chan node.PairEvent, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.do(ctx, http.MethodGet, "/v1/events", nil, "")
	if err != nil {
		cancel()
		return nil, nil, err
	}
	out := make(chan node.PairEvent, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		readSSE(resp.Body, func(e sseEvent) error {
			if e.Type != node.EventPair {
				return nil
			}
			var ev node.Event
			if err := json.Unmarshal(e.Data, &ev); err != nil || ev.Pair == nil {
				return nil
			}
			select {
			case out <- *ev.Pair:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	stop := func() {
		cancel()
		resp.Body.Close()
		<-done
	}
	return out, stop, nil
}
