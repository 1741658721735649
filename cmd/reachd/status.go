package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reachd/reachd/node"
)

const statusUsage = `usage: reachd status [flags]

Shows the node behind --api: its ID and readiness (or what it waits for),
its peer address, each interface's NAT type and port delta over TCP and UDP
with the external IP, its brokers, its clock, how many connections are open,
and a row per peer: the strategy of its path, the local and remote address,
the round trip, the bytes each way and how long the link has been idle.

flags:
`

// statusTimeout bounds the requests of reachd status.
const statusTimeout = 10 * time.Second

func runStatus(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd status", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), statusUsage); fs.PrintDefaults() }
	var af apiFlags
	af.register(fs)
	asJSON := fs.Bool("json", false, "print GET /v1/node's JSON as it is")
	if _, err := parseFlags(fs, args, stderr, 0); err != nil {
		return err
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	raw, err := c.get(ctx, "/v1/node")
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(append(bytes.TrimRight(raw, "\n"), '\n'))
		return err
	}
	var info nodeStatus
	if err := json.Unmarshal(raw, &info); err != nil {
		return fmt.Errorf("GET /v1/node: decode answer: %w", err)
	}
	var conns struct {
		Connections []node.ConnInfo `json:"connections"`
	}
	if err := c.getJSON(ctx, "/v1/connections", &conns); err != nil {
		return err
	}
	writeStatus(stdout, c.base.String(), info, conns.Connections)
	return nil
}

// nodeStatus is the part of GET /v1/node that reachd status shows. NAT
// and delta types stay the API's words.
type nodeStatus struct {
	NodeID       string   `json:"node_id"`
	Address      string   `json:"address"`
	Ready        bool     `json:"ready"`
	WaitingFor   []string `json:"waiting_for"`
	ReadyAfterMS int64    `json:"ready_after_ms"`
	ListenPort   uint16   `json:"listen_port"`
	Interfaces   []struct {
		Name string    `json:"name"`
		IP   string    `json:"ip"`
		TCP  natStatus `json:"tcp"`
		UDP  natStatus `json:"udp"`
		// Portmap is the interface's port mapping; nil without one.
		Portmap *struct {
			Protocol  string `json:"protocol"`
			External  string `json:"external"`
			Confirmed bool   `json:"confirmed"`
			Reason    string `json:"reason"`
		} `json:"portmap"`
	} `json:"interfaces"`
	Brokers []struct {
		URL       string   `json:"url"`
		Connected bool     `json:"connected"`
		Members   []string `json:"members"`
		LastError string   `json:"last_error"`
	} `json:"brokers"`
	Clock node.ClockInfo    `json:"clock"`
	Peers []node.PeerStatus `json:"peers"`
}

type natStatus struct {
	NAT        string `json:"nat"`
	Delta      string `json:"delta"`
	DeltaValue int    `json:"delta_value"`
	ExternalIP string `json:"external_ip"`
	Reason     string `json:"reason"`
}

func (n natStatus) String() string {
	s := n.NAT
	if n.Delta != "" && n.Delta != "na" && n.Delta != "unknown" {
		s += ", delta " + n.Delta
		if n.DeltaValue != 0 {
			s += fmt.Sprintf(" %+d", n.DeltaValue)
		}
	}
	if n.ExternalIP != "" {
		s += ", external " + n.ExternalIP
	}
	if n.Reason != "" {
		s += " (" + n.Reason + ")"
	}
	return s
}

// writeStatus prints the human summary of reachd status.
func writeStatus(w io.Writer, api string, info nodeStatus, conns []node.ConnInfo) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-12s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("node", "%s", info.NodeID)
	line("api", "%s", api)
	switch {
	case info.Ready && info.ReadyAfterMS > 0:
		line("ready", "yes (after %dms)", info.ReadyAfterMS)
	case info.Ready:
		line("ready", "yes")
	case len(info.WaitingFor) > 0:
		line("ready", "no: waiting for %s", waitingWords(info.WaitingFor))
	default:
		line("ready", "no: still probing the NAT or reaching a broker")
	}
	if info.Address != "" {
		line("address", "%s", info.Address)
	}
	line("listen port", "%d", info.ListenPort)

	fmt.Fprintln(w, "interfaces")
	if len(info.Interfaces) == 0 {
		fmt.Fprintln(w, "  none probed yet")
	}
	for _, ifc := range info.Interfaces {
		fmt.Fprintf(w, "  %s %s\n", ifc.Name, ifc.IP)
		fmt.Fprintf(w, "    tcp  %s\n", ifc.TCP)
		fmt.Fprintf(w, "    udp  %s\n", ifc.UDP)
		if pm := ifc.Portmap; pm != nil {
			state := "confirmed"
			if !pm.Confirmed {
				state = "not advertised: " + pm.Reason
			}
			fmt.Fprintf(w, "    map  %s %s, %s\n", pm.Protocol, pm.External, state)
		}
	}

	fmt.Fprintln(w, "brokers")
	if len(info.Brokers) == 0 {
		fmt.Fprintln(w, "  none configured")
	}
	for _, b := range info.Brokers {
		state := "connected"
		if len(b.Members) > 0 { // a broker cluster
			state += " to " + strings.Join(b.Members, ", ")
		}
		if !b.Connected {
			state = "not connected"
			if b.LastError != "" {
				state += ": " + b.LastError
			}
		}
		fmt.Fprintf(w, "  %s  %s\n", b.URL, state)
	}

	line("clock", "%s", clockStatus(info.Clock))

	var in, out int
	for _, c := range conns {
		if c.State == node.StateClosed {
			continue
		}
		if c.Direction == node.Inbound {
			in++
		} else {
			out++
		}
	}
	if in+out == 0 {
		line("connections", "none open")
	} else {
		line("connections", "%d open (%d outbound, %d inbound)", in+out, out, in)
	}
	writePeers(w, info.Peers)
}

// waitingWords words GET /v1/node's waiting_for.
func waitingWords(list []string) string {
	words := map[string]string{
		node.WaitingProbe:     "the first NAT probe",
		node.WaitingInterface: "an interface to reach peers on",
		node.WaitingBroker:    "a connected signaling broker",
	}
	out := make([]string, len(list))
	for i, w := range list {
		out[i] = cmp.Or(words[w], w)
	}
	return strings.Join(out, " and ")
}

// writePeers prints a row per peer link: its path's strategy, addresses
// and round trip, its bytes each way and how long it has been idle.
func writePeers(w io.Writer, peers []node.PeerStatus) {
	if len(peers) == 0 {
		fmt.Fprintf(w, "%-12s %s\n", "peers", "none")
		return
	}
	fmt.Fprintln(w, "peers")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PEER\tPATH\tLOCAL -> REMOTE\tRTT\tSENT\tRECEIVED\tIDLE")
	for _, p := range peers {
		path, addrs, rtt := p.State, "-", "-"
		if p.Path != nil {
			path, addrs = p.Path.Strategy, p.Path.LocalAddr+" -> "+p.Path.RemoteAddr
			if p.Path.RTTMS > 0 {
				rtt = fmt.Sprintf("%.1fms", p.Path.RTTMS)
			}
		}
		idle := "-"
		if !p.ActiveAt.IsZero() {
			idle = (time.Duration(p.IdleMS) * time.Millisecond).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", shortID(p.NodeID), path, addrs, rtt,
			byteCount(p.BytesSent), byteCount(p.BytesReceived), idle)
	}
	tw.Flush()
}

// byteCount words a byte count: 512 B, 1.5 KiB, 3.2 MiB.
func byteCount(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

func clockStatus(c node.ClockInfo) string {
	if len(c.Servers) == 1 && c.Servers[0] == "off" {
		return "the local clock (NTP off)"
	}
	var s string
	if c.SyncedAt.IsZero() {
		s = "not synced yet"
	} else {
		s = fmt.Sprintf("offset %+.1fms (%d of %d NTP servers answered)", c.OffsetMS, c.Answered, len(c.Servers))
	}
	if c.Error != "" {
		s += "; last error: " + strings.TrimSpace(c.Error)
	}
	return s
}
