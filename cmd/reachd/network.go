package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reachd/reachd/network"
)

const networkUsage = `usage:
  reachd network join NAME --secret S [--ip CIDR|auto]   join a named network
  reachd network leave NAME                             leave it
  reachd network list [--json]                          the joined networks and their members

A named network is a virtual LAN of the peers that share its secret: each
member gets a TAP device (rn-NAME) with its address (--ip 10.99.0.1/24, or
auto: a free one in the range the members use), and frames go to the
member that has the destination MAC. Who knows the name but not the
secret finds and joins nothing. The secret may come from REACHD_SECRET
instead of the command line (where other local users could see it).

flags:
`

// networkTimeout bounds a network request (a join with "auto" listens for
// the members' addresses a couple of seconds first).
const networkTimeout = 30 * time.Second

func runNetwork(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd network", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), networkUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
	secret := fs.String("secret", "", "the network's `secret` (join), at least 16 characters")
	ip := fs.String("ip", "auto", "this node's address in the network with its prefix (join), or auto")
	asJSON := fs.Bool("json", false, "print the API's JSON as it is (join, list)")
	pos, err := parseFlags(fs, args, stderr, 2)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want a subcommand: join, leave or list")
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, networkTimeout)
	defer cancel()
	sub, rest := pos[0], pos[1:]
	name := ""
	switch sub {
	case "join", "leave":
		if len(rest) != 1 {
			return usagef("%s: want the network's NAME", sub)
		}
		name = rest[0]
	case "list":
		if len(rest) != 0 {
			return usagef("list: unexpected argument %q", rest[0])
		}
	default:
		return usagef("unknown subcommand %q: want join, leave or list", sub)
	}
	switch sub {
	case "join":
		if *secret == "" {
			return usagef("join: --secret (or REACHD_SECRET) is required")
		}
		if !*asJSON {
			if *ip == "auto" {
				fmt.Fprintf(stdout, "joining %s with an automatic address: listening for the members' addresses…\n", name)
			} else {
				fmt.Fprintf(stdout, "joining %s as %s…\n", name, *ip)
			}
		}
		var info network.Info
		req := map[string]string{"name": name, "secret": *secret, "ip": *ip}
		if err := c.postJSON(ctx, "/v1/networks", req, &info); err != nil {
			return err
		}
		if *asJSON {
			return writeJSONTo(stdout, info)
		}
		fmt.Fprintf(stdout, "joined %s as %s on %s (MAC %s)\n", info.Name, info.IP, info.Device, info.MAC)
		return awaitMembers(ctx, c, stdout, info)
	case "leave":
		if err := c.delete(ctx, "/v1/networks/"+url.PathEscape(name)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "left %s\n", name)
		return nil
	}
	var list struct {
		Networks []network.Info `json:"networks"`
	}
	if err := c.getJSON(ctx, "/v1/networks", &list); err != nil {
		return err
	}
	if *asJSON {
		return writeJSONTo(stdout, list)
	}
	writeNetworks(stdout, list.Networks)
	return nil
}

// joinWait bounds how long join waits for the network to leave the
// joining state (the node says waiting after a few seconds alone).
const joinWait = 15 * time.Second

// awaitMembers follows a network from joining to joined (a member
// answered) or waiting (none did), saying which.
func awaitMembers(ctx context.Context, c *apiClient, w io.Writer, info network.Info) error {
	ctx, cancel := context.WithTimeout(ctx, joinWait)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	said := false
	for info.State == network.StateJoining {
		if !said {
			fmt.Fprintln(w, "waiting for another member to answer…")
			said = true
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(w, "still %s after %v\n", info.State, joinWait)
			return nil
		case <-tick.C:
		}
		if err := c.getJSON(ctx, "/v1/networks/"+url.PathEscape(info.Name), &info); err != nil {
			if ctx.Err() != nil {
				continue
			}
			return err
		}
	}
	writeState(w, info)
	return nil
}

// writeState says what a network's state means.
func writeState(w io.Writer, n network.Info) {
	switch n.State {
	case network.StateJoined:
		fmt.Fprintf(w, "joined: %d member(s) answered\n", len(n.Members))
	default:
		fmt.Fprintf(w, "%s: %s\n", n.State, dash(n.Detail))
	}
}

func writeJSONTo(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeNetworks prints each network and its peer table.
func writeNetworks(w io.Writer, nets []network.Info) {
	if len(nets) == 0 {
		fmt.Fprintln(w, "no networks joined")
		return
	}
	for i, n := range nets {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  %s  %s on %s  MAC %s  %d member(s)\n", n.Name, n.State, n.IP, dash(n.Device), n.MAC, len(n.Members))
		if len(n.Members) == 0 {
			if n.Detail != "" {
				fmt.Fprintf(w, "  %s\n", n.Detail)
			}
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NODE\tHOST\tIP\tMAC\tLINK\tSTRATEGY\tCONNECTION")
		for _, m := range n.Members {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", shortID(m.NodeID), dash(m.Host), m.IP, m.MAC, m.Link,
				dash(m.Strategy), dash(m.ConnectionID))
		}
		tw.Flush()
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
