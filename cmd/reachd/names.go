package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/reachd/reachd/node"
)

const namesUsage = `usage:
  reachd names [--json]            the public names this node registers
  reachd names register NAME       register NAME for this node on its name services
  reachd names rm NAME             drop it
  reachd names NAME                resolve a public name: its node ID, address and service

Public names live on the node's name services: its brokers that serve one
(reachd rendezvous does). The first node to register a name owns it until
its record (signed by the node key) expires unrenewed; the node renews its
names and keeps them in its data dir. A name (a DNS label: a-z, 0-9, -)
works wherever a peer is named, after the address book.

flags:
`

func init() {
	commands = append(commands, command{"names", runNames})
	subcommands["names"] = []string{"register", "rm"}
}

func runNames(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd names", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), namesUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
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
	switch {
	case len(pos) == 0:
		return listOrStop(ctx, c, stdout, nil, "", "names", "NAME", "", *asJSON, writeNames)
	case pos[0] == "register" && len(pos) == 2:
		var n node.NameInfo
		if err := c.putJSON(ctx, "/v1/names/"+url.PathEscape(pos[1]), struct{}{}, &n); err != nil {
			return err
		}
		if *asJSON {
			return writeJSONTo(stdout, n)
		}
		fmt.Fprintf(stdout, "registered %s on %d of %d name services, until %s\n", n.Name, registeredOn(n), len(n.Services), n.ExpiresAt.Local().Format(time.DateTime))
		return nil
	case pos[0] == "rm" && len(pos) == 2:
		if err := c.delete(ctx, "/v1/names/"+url.PathEscape(pos[1])); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "dropped %s\n", pos[1])
		return nil
	case len(pos) == 1 && pos[0] != "register" && pos[0] != "rm":
		var n node.NameInfo
		if err := c.getJSON(ctx, "/v1/names/"+url.PathEscape(pos[0]), &n); err != nil {
			return err
		}
		if *asJSON {
			return writeJSONTo(stdout, n)
		}
		fmt.Fprintf(stdout, "%s is %s (from the name service on %s, until %s)\n%s\n", n.Name, n.NodeID, n.Service, n.ExpiresAt.Local().Format(time.DateTime), n.Address)
		return nil
	}
	return usagef("want no argument, register NAME, rm NAME or NAME")
}

func registeredOn(n node.NameInfo) int {
	k := 0
	for _, s := range n.Services {
		if s.Registered {
			k++
		}
	}
	return k
}

func writeNames(w io.Writer, list []node.NameInfo) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no names registered")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICES\tEXPIRES")
	for _, n := range list {
		expires := "-"
		if !n.ExpiresAt.IsZero() {
			expires = n.ExpiresAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\n", n.Name, registeredOn(n), len(n.Services), expires)
	}
	tw.Flush()
}
