package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
)

const peersUsage = `usage:
  reachd peers [--json]          the address book
  reachd peers add NAME PEER     save a peer under NAME (PEER: its address or node ID)
  reachd peers rm NAME           forget it

A name (a DNS label: a-z, 0-9, -) can stand for the peer wherever a peer is
named: reachd connect NAME, reachd ping NAME, reachd nc NAME/SERVICE,
reachd forward NAME/SERVICE. A node ID alone also works when the node knows
the peer's address (from the address book, or a current link). An entry
keeps the peer's last known address: it follows the address the peer
tells the node. The book is kept in the node's data dir.

flags:
`

func init() {
	commands = append(commands, command{"peers", runPeers})
	subcommands["peers"] = []string{"add", "rm"}
}

func runPeers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd peers", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), peersUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
	asJSON := fs.Bool("json", false, "print the API's JSON as it is")
	pos, err := parseFlags(fs, args, stderr, 3)
	if err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, serviceTimeout)
	defer cancel()
	switch {
	case len(pos) == 0:
		return listOrStop(ctx, c, stdout, nil, "", "peers", "NAME", "", *asJSON, writeBook)
	case pos[0] == "add" && len(pos) == 3:
		req := map[string]string{"address": pos[2]}
		if address.CheckNodeID(pos[2]) == nil {
			req = map[string]string{"node_id": pos[2]}
		}
		var p node.Peer
		if err := c.putJSON(ctx, "/v1/peers/"+url.PathEscape(pos[1]), req, &p); err != nil {
			return err
		}
		if *asJSON {
			return writeJSONTo(stdout, p)
		}
		fmt.Fprintf(stdout, "saved %s as %s\n", p.NodeID, p.Name)
		return nil
	case pos[0] == "rm" && len(pos) == 2:
		if err := c.delete(ctx, "/v1/peers/"+url.PathEscape(pos[1])); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "forgot %s\n", pos[1])
		return nil
	}
	return usagef("want no argument, add NAME PEER or rm NAME")
}

func writeBook(w io.Writer, list []node.Peer) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no peers in the address book")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNODE ID\tADDRESS\tUPDATED")
	for _, p := range list {
		known := "known"
		if p.Address == "" {
			known = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.NodeID, known, p.UpdatedAt.Local().Format(time.DateTime))
	}
	tw.Flush()
}
