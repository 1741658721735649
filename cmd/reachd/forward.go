package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/service"
)

const forwardUsage = `usage:
  reachd forward PEER/SERVICE [--listen ADDR] [--udp]   reach a peer's service on a local port
  reachd forward                                       list the forwards
  reachd forward --off ID                              stop one

A forward listens on ADDR (default 127.0.0.1 with a free port, printed) and
connects each local connection (each UDP source address, until 60 s
without a datagram) to the peer's service. PEER is the peer's address, its
node ID or a name from the address book (reachd peers); a forward keeps the
name and resolves it for each connection.
Forwards are kept in the node's data dir across restarts, on the same
address.

flags:
`

func runForward(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd forward", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), forwardUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
	listen := fs.String("listen", "", "the local `ADDR` to listen on (default 127.0.0.1:0)")
	udp := fs.Bool("udp", false, "forward UDP (the service must be UDP)")
	off := fs.String("off", "", "stop the forward `ID`")
	asJSON := fs.Bool("json", false, "print the API's JSON as it is")
	pos, err := parseFlags(fs, args, stderr, 1)
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
		return listOrStop(ctx, c, stdout, pos, *off, "forwards", "ID", "stopped", *asJSON, writeForwards)
	}
	peer, svc := splitService(pos[0])
	if svc == "" {
		return usagef("want PEER/SERVICE")
	}
	req := map[string]any{"peer": peer, "service": svc, "protocol": service.TCP}
	if *listen != "" {
		req["listen"] = *listen
	}
	if *udp {
		req["protocol"] = service.UDP
	}
	var f service.ForwardInfo
	if err := c.postJSON(ctx, "/v1/forwards", req, &f); err != nil {
		return err
	}
	if *asJSON {
		return writeJSONTo(stdout, f)
	}
	fmt.Fprintf(stdout, "forward %s: %s %s -> %s/%s\n", f.ID, f.Protocol, f.Listen, shortID(peerID(f.Peer)), f.Service)
	return nil
}

func writeForwards(w io.Writer, list []service.ForwardInfo) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no forwards")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROTOCOL\tLISTEN\tPEER\tSERVICE\tCONNS\tACTIVE\tSENT\tRECEIVED\tERROR")
	for _, f := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", f.ID, f.Protocol, f.Listen, shortID(peerID(f.Peer)),
			f.Service, f.Connections, f.Active, f.BytesSent, f.BytesReceived, dash(f.Error))
	}
	tw.Flush()
}

// peerID is the node ID of a peer address, or the reference as it is.
func peerID(ref string) string {
	if a, err := address.Parse(ref); err == nil {
		return a.NodeID
	}
	return ref
}
