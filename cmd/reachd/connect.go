package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
)

// connectFlags are the flags of reachd connect and reachd nc.
type connectFlags struct {
	strategies listFlag
	timeout    time.Duration
	grace      time.Duration
	fresh      bool
}

func (f *connectFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.strategies, "strategies", "`list` of strategies to race, in order of preference, comma-separated: direct, reverse, punch, relay (default: all)")
	fs.DurationVar(&f.timeout, "timeout", 20*time.Second, "give up connecting after this `duration`")
	fs.DurationVar(&f.grace, "grace", 0, "how long the connection waits for a new path after its path died, before it aborts (`duration`; default: the node's)")
	fs.BoolVar(&f.fresh, "fresh", false, "race the strategies for a new path even when the node has one to the peer (it then carries all their connections)")
}

func (f *connectFlags) check() error {
	if f.timeout < time.Millisecond {
		return usagef("--timeout %v: want at least 1ms", f.timeout)
	}
	if f.grace < 0 {
		return usagef("--grace %v: want 0 or more", f.grace)
	}
	return nil
}

// connectRequest is the body of POST /v1/connections.
type connectRequest struct {
	Address    string   `json:"address"`
	Strategies []string `json:"strategies,omitempty"`
	TimeoutMS  int64    `json:"timeout_ms"`
	GraceMS    int64    `json:"grace_ms,omitempty"`
	Fresh      bool     `json:"fresh,omitempty"`
	Service    string   `json:"service,omitempty"`
}

func (f *connectFlags) request(addr string) connectRequest {
	return connectRequest{Address: addr, Strategies: f.strategies.items, TimeoutMS: f.timeout.Milliseconds(),
		GraceMS: f.grace.Milliseconds(), Fresh: f.fresh}
}

const connectUsage = `usage: reachd connect [flags] ADDRESS

Asks the node behind --api to connect to the peer at ADDRESS, printing each
strategy's progress as it happens, then the connection's ID. The connection
stays open in the node (see reachd nc --id, or the REST API).

ADDRESS is the peer's address, its node ID (when the node knows its address:
from the address book or a current link), or a name from the address book
(reachd peers).

flags:
`

func runConnect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd connect", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), connectUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
	var cf connectFlags
	cf.register(fs)
	asJSON := fs.Bool("json", false, "print the connection's JSON (POST /v1/connections's answer) instead of the progress")
	pos, err := parseFlags(fs, args, stderr, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 || pos[0] == "" {
		return usagef("missing the peer's ADDRESS")
	}
	if err := cf.check(); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	progress := stdout
	if *asJSON {
		progress = io.Discard
	}
	info, err := c.connect(ctx, cf.request(pos[0]), progress)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSONTo(stdout, info)
	}
	printConnected(stdout, info)
	return nil
}

// printConnected is the last word of a successful connect.
func printConnected(w io.Writer, info node.ConnInfo) {
	shared := ""
	if len(info.Attempts) == 0 {
		shared = " (the path the node has to the peer)"
	}
	fmt.Fprintf(w, "connected to %s via %s%s\nconnection %s\n", info.PeerID, info.Strategy, shared, info.ID)
}

// formatSteps words an attempt's timeline, in ms from the start of the
// connect: "tcp_established 0ms, tls_done 7ms, committed 7ms"; "" when
// it has none.
func formatSteps(a node.Attempt) string {
	steps := make([]string, len(a.Steps))
	for i, st := range a.Steps {
		steps[i] = fmt.Sprintf("%s %dms", st.Name, st.MS)
	}
	return strings.Join(steps, ", ")
}

// formatAttempt words one attempt: "direct: trying", "direct: failed
// (reason) 2003ms", "reverse: ok 41ms", "relay: skipped (reason)".
func formatAttempt(a node.Attempt) string {
	switch a.Outcome {
	case "trying":
		return a.Name + ": trying"
	case "skipped":
		return fmt.Sprintf("%s: skipped (%s)", a.Name, a.Reason)
	case "ok":
		return fmt.Sprintf("%s: ok %dms", a.Name, a.MS)
	}
	if a.Reason == "" {
		return fmt.Sprintf("%s: %s %dms", a.Name, a.Outcome, a.MS)
	}
	return fmt.Sprintf("%s: %s (%s) %dms", a.Name, a.Outcome, a.Reason, a.MS)
}

// progress prints attempts in the order they happen. Attempts come live
// from the event stream, and in the end from the answer to the request;
// each is printed once, a tried strategy's outcome after its "trying".
type progress struct {
	w     io.Writer
	first string // the strategy tried first
	mode  progressMode
	state map[string]attemptState
}

type progressMode int

const (
	undecided  progressMode = iota
	live                    // the event stream shows every attempt: print as they come
	fromAnswer              // the stream began too late: print from the answer
)

type attemptState int

const (
	unseen attemptState = iota
	trying
	finished
)

func newProgress(w io.Writer, strategies []string) *progress {
	first := node.DefaultStrategies[0]
	if len(strategies) > 0 {
		first = strategies[0]
	}
	return &progress{w: w, first: first, state: make(map[string]attemptState)}
}

// event takes an attempt from the event stream. Printing live is only right
// when the stream shows the first attempt: one that missed the start (it
// opened as the node began) would print later attempts before earlier ones.
func (p *progress) event(a node.Attempt) {
	if p.mode == undecided {
		p.mode = fromAnswer
		if a.Name == p.first && a.Outcome == "trying" {
			p.mode = live
		}
	}
	if p.mode == live {
		p.print(a)
	}
}

// print prints an attempt unless its outcome was printed already.
func (p *progress) print(a node.Attempt) {
	switch st := p.state[a.Name]; {
	case st == finished:
		return
	case a.Outcome == "trying":
		if st == unseen {
			fmt.Fprintln(p.w, formatAttempt(a))
			p.state[a.Name] = trying
		}
		return
	case st == unseen && a.Outcome != "skipped":
		fmt.Fprintln(p.w, formatAttempt(node.Attempt{Name: a.Name, Outcome: "trying"}))
	}
	fmt.Fprintln(p.w, formatAttempt(a))
	if steps := formatSteps(a); steps != "" {
		fmt.Fprintln(p.w, "  "+steps) // its timeline, under it
	}
	p.state[a.Name] = finished
}

// printedAll reports whether every tried attempt's outcome is printed.
func (p *progress) printedAll(attempts []node.Attempt) bool {
	for _, a := range attempts {
		if a.Outcome != "skipped" && p.state[a.Name] != finished {
			return false
		}
	}
	return true
}

// eventGrace is how long the outcome of the last attempts may trail the
// answer of POST /v1/connections on the event stream before it is printed
// from the answer instead.
const eventGrace = time.Second

// connect asks the node to connect, following GET /v1/events to print each
// attempt towards the peer to w as it happens. The event stream is opened
// before the request; whatever it did not show (a skipped strategy, a
// stream that lagged or began late) is printed from the answer, so every
// attempt is printed once and in order. A failure is a *connectError
// listing the attempts; bad input is an *apiError with status 400.
func (c *apiClient) connect(ctx context.Context, req connectRequest, w io.Writer) (node.ConnInfo, error) {
	p := newProgress(w, req.Strategies)
	// Only a well-formed address or node ID names a peer to follow; the
	// node resolves a name, and words what is wrong with any other.
	var events <-chan node.Attempt
	if id := refNodeID(req.Address); id != "" {
		evs, stop, err := c.followAttempts(ctx, id)
		if err != nil {
			return node.ConnInfo{}, err
		}
		defer stop()
		events = evs
	}

	type result struct {
		info node.ConnInfo
		err  error
	}
	res := make(chan result, 1)
	go func() {
		// The node bounds the attempt by TimeoutMS; this only guards
		// against an API that never answers.
		pctx, cancel := context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond+30*time.Second)
		defer cancel()
		var r result
		r.err = c.postJSON(pctx, "/v1/connections", req, &r.info)
		res <- r
	}()
	var r result
	for waiting := true; waiting; {
		select {
		case a, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			p.event(a)
		case r = <-res:
			waiting = false
		}
	}

	attempts := r.info.Attempts
	var ae *apiError
	failed := errors.As(r.err, &ae) && ae.Status == http.StatusBadGateway
	if failed {
		attempts = ae.Problem.Attempts
	} else if r.err != nil {
		return node.ConnInfo{}, r.err
	}
	if events != nil && len(attempts) > 0 {
		grace := time.NewTimer(eventGrace)
		defer grace.Stop()
	wait:
		for p.mode != fromAnswer && !p.printedAll(attempts) {
			select {
			case a, ok := <-events:
				if !ok {
					break wait
				}
				p.event(a)
			case <-grace.C:
				break wait
			}
		}
	}
	for _, a := range attempts {
		p.print(a)
	}
	if failed {
		peer := "the peer"
		if id := refNodeID(req.Address); id != "" {
			peer = id
		}
		return node.ConnInfo{}, &connectError{peer: peer, verdict: ae.Problem.Verdict, attempts: attempts, detail: ae.Problem.Detail}
	}
	return r.info, nil
}

// followAttempts follows GET /v1/events and sends the attempts towards
// peer on the returned channel, which is closed when the stream ends. It
// returns once the stream is open; stop ends it and waits for its reader.
func (c *apiClient) followAttempts(ctx context.Context, peer string) (<-chan node.Attempt, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.do(ctx, http.MethodGet, "/v1/events", nil, "")
	if err != nil {
		cancel()
		return nil, nil, err
	}
	out := make(chan node.Attempt, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		readSSE(resp.Body, func(e sseEvent) error {
			if e.Type != node.EventAttempt {
				return nil
			}
			var ev node.Event
			if err := json.Unmarshal(e.Data, &ev); err != nil || ev.Attempt == nil || ev.Attempt.Peer != peer {
				return nil
			}
			select {
			case out <- ev.Attempt.Attempt:
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

// refNodeID is the node ID a peer reference names by itself (an address or
// a node ID), or "" (a name, or bad input).
func refNodeID(ref string) string {
	if a, err := address.Parse(ref); err == nil {
		return a.NodeID
	}
	if address.CheckNodeID(ref) == nil {
		return ref
	}
	return ""
}
