package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reachd/reachd/service"
)

const serveUsage = `usage:
  reachd serve NAME TARGET [--udp] --allow ID|any ...   offer a local service to peers
  reachd serve                                         list the services offered
  reachd serve --off NAME                              stop offering one

A service is a name (a DNS label: a-z, 0-9, -), a target host:port (a bare
port means 127.0.0.1) and who may use it: node IDs, or any (--allow is
required, and may be repeated or comma-separated). A peer reaches it with
"reachd forward PEER/NAME" or "reachd nc PEER/NAME". A peer that may not
use it is told, as for a service that does not exist, "no such service".
Services are kept in the node's data dir across restarts.

flags:
`

// serviceTimeout bounds a service or forward request.
const serviceTimeout = 30 * time.Second

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd serve", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), serveUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
	var allow allowFlag
	fs.Var(&allow, "allow", "a node `ID` (or any) that may use the service; repeat or comma-separate")
	udp := fs.Bool("udp", false, "the service is UDP (datagrams)")
	off := fs.String("off", "", "stop offering the service `NAME`")
	asJSON := fs.Bool("json", false, "print the API's JSON as it is")
	pos, err := parseFlags(fs, args, stderr, 2)
	if err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, serviceTimeout)
	defer cancel()
	if *off != "" || len(pos) == 0 {
		return listOrStop(ctx, c, stdout, pos, *off, "services", "NAME", "removed", *asJSON, writeServices)
	}
	switch {
	case len(pos) != 2:
		return usagef("want NAME TARGET")
	case len(allow.items) == 0:
		return usagef("--allow is required: node IDs, or any")
	}
	req := map[string]any{"target": pos[1], "allow": allow.items, "protocol": service.TCP}
	if *udp {
		req["protocol"] = service.UDP
	}
	var svc service.Service
	if err := c.putJSON(ctx, "/v1/services/"+url.PathEscape(pos[0]), req, &svc); err != nil {
		return err
	}
	if *asJSON {
		return writeJSONTo(stdout, svc)
	}
	fmt.Fprintf(stdout, "serving %s (%s) to %s as %s\n", svc.Target, svc.Protocol, strings.Join(svc.Allow, ", "), svc.Name)
	return nil
}

func writeServices(w io.Writer, list []service.Service) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no services offered")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROTOCOL\tTARGET\tALLOW")
	for _, s := range list {
		allow := make([]string, len(s.Allow))
		for i, a := range s.Allow {
			allow[i] = shortID(a)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Protocol, s.Target, strings.Join(allow, ","))
	}
	tw.Flush()
}

// allowFlag collects a repeated or comma-separated flag (listFlag's Set
// replaces; this one appends).
type allowFlag struct{ items []string }

func (l *allowFlag) String() string { return strings.Join(l.items, ",") }

func (l *allowFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l.items = append(l.items, s)
		}
	}
	return nil
}

// splitService cuts PEER/SERVICE at its last slash (a peer address has
// none); without a slash it is a peer alone.
func splitService(ref string) (peer, svc string) {
	i := strings.LastIndexByte(ref, '/')
	if i < 0 {
		return ref, ""
	}
	return ref[:i], ref[i+1:]
}

// putJSON puts in as JSON and decodes the answer into out.
func (c *apiClient) putJSON(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPut, path, bytes.NewReader(body), "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("PUT %s: decode answer: %w", path, err)
	}
	return nil
}

// listOrStop is the form serve and forward share without a new item: with
// off, it stops the item off of kind ("services", "forwards"), saying
// done; without arguments, it lists them, as the API's JSON or by render.
func listOrStop[T any](ctx context.Context, c *apiClient, stdout io.Writer, args []string, off, kind, what, done string,
	asJSON bool, render func(io.Writer, []T)) error {
	if off != "" {
		if len(args) != 0 {
			return usagef("--off %s takes no other argument", what)
		}
		if err := c.delete(ctx, "/v1/"+kind+"/"+url.PathEscape(off)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s %s\n", strings.TrimSuffix(kind, "s"), off, done)
		return nil
	}
	var list map[string][]T
	if err := c.getJSON(ctx, "/v1/"+kind, &list); err != nil {
		return err
	}
	if asJSON {
		return writeJSONTo(stdout, list)
	}
	render(stdout, list[kind])
	return nil
}
