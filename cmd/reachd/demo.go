package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/server"
)

// Demo TURN credential of reachd demo's rendezvous.
const demoTURNUser, demoTURNPass = "demo", "demo"

const demoUsage = `usage: reachd demo [flags]

Starts a rendezvous and two nodes, alice and bob, on loopback, connects
alice to bob and prints both dashboards' URLs; runs until interrupted.

flags:
`

// demoTimeout bounds the demo's setup: nodes ready and connected.
const demoTimeout = 60 * time.Second

// runDemo starts a rendezvous and two nodes on loopback, each with its API
// and dashboard, connects alice to bob and prints the dashboard URLs and
// the connection. It runs until interrupted unless --once is given.
func runDemo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd demo", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), demoUsage); fs.PrintDefaults() }
	once := fs.Bool("once", false, "exit once the demo is up instead of running until interrupted")
	dataDir := fs.String("data-dir", "", "`dir`ectory for the demo nodes' keys (default: a temporary one)")
	logLevel := fs.String("log-level", "warn", "log `level`: debug, info, warn or error")
	logFormat := registerDaemonFlags(fs, false)
	if _, err := parseFlags(fs, args, stderr, 0); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	if *dataDir == "" {
		d, err := os.MkdirTemp("", "reachd-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dataDir = d
	}

	rv, err := rendezvous.New(rendezvous.Config{
		MQTTListen: "127.0.0.1:0",
		STUNListen: []string{"127.0.0.1:0", "127.0.0.2:0"},
		TURNListen: "127.0.0.1:0",
		TURNUsers:  map[string]string{demoTURNUser: demoTURNPass},
		Logger:     logger,
	})
	if err != nil {
		return fmt.Errorf("start rendezvous: %w", err)
	}
	defer rv.Close()

	var stun []string
	for _, a := range rv.STUNAddrs() {
		stun = append(stun, a.String())
	}
	type demoNode struct {
		name string
		n    *node.Node
		api  string
	}
	var nodes []demoNode
	for _, name := range []string{"alice", "bob"} {
		n, err := node.New(node.Config{
			DataDir:   filepath.Join(*dataDir, name),
			MQTT:      []string{"mqtt://" + rv.MQTTAddr()},
			STUN:      stun,
			TURN:      []string{fmt.Sprintf("turn://%s:%s@%s", demoTURNUser, demoTURNPass, rv.TURNAddr())},
			NTP:       []string{"off"}, // both nodes share this machine's clock
			NoPortMap: true,            // both on loopback: nothing to map
			Logger:    logger.With("node", name),
		})
		if err != nil {
			return fmt.Errorf("start node %s: %w", name, err)
		}
		defer n.Close()
		srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Node: n, Logger: logger})
		if err != nil {
			return fmt.Errorf("start api of %s: %w", name, err)
		}
		defer srv.Close()
		n.Start()
		nodes = append(nodes, demoNode{name, n, srv.Addr()})
	}

	setup, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	for _, d := range nodes {
		select {
		case <-d.n.Ready():
		case <-setup.Done():
			return demoSetupError(ctx, fmt.Sprintf("%s not ready", d.name))
		}
	}
	alice, bob := nodes[0], nodes[1]
	fmt.Fprintln(stdout, "reachd demo: a rendezvous and two nodes on this machine")
	for _, d := range nodes {
		fmt.Fprintf(stdout, "  %-5s  dashboard http://%s/\n", d.name, d.api)
	}

	bobAddr, err := address.Parse(bob.n.Address())
	if err != nil {
		return fmt.Errorf("bob's address: %w", err)
	}
	c, err := alice.n.Connect(setup, bobAddr, nil)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return fmt.Errorf("connect alice to bob: %w", err)
	}
	info := c.Info()
	ms := int64(0)
	if len(info.Attempts) > 0 {
		ms = info.Attempts[len(info.Attempts)-1].MS
	}
	fmt.Fprintf(stdout, "alice connected to bob via %s in %dms: connection %s\n", info.Strategy, ms, info.ID)
	if in, ok := inboundFrom(setup, bob.n, alice.n.ID()); ok {
		fmt.Fprintf(stdout, "chat through it in two terminals:\n  reachd nc --api %s --id %s\n  reachd nc --api %s --id %s\n",
			alice.api, info.ID, bob.api, in)
	}
	if *once {
		return nil
	}
	fmt.Fprintln(stdout, "running; press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

func demoSetupError(ctx context.Context, what string) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	return fmt.Errorf("%s after %v", what, demoTimeout)
}

// inboundFrom waits until n lists an open inbound connection from peer and
// returns its ID; false if none shows before ctx ends.
func inboundFrom(ctx context.Context, n *node.Node, peer string) (string, bool) {
	for {
		// Take the next-event channel before looking, so no change is missed.
		_, _, next := n.Events(n.LastEventID())
		for _, c := range n.Conns() {
			info := c.Info()
			if info.PeerID == peer && info.Direction == node.Inbound && info.State != node.StateClosed {
				return info.ID, true
			}
		}
		select {
		case <-next:
		case <-ctx.Done():
			return "", false
		}
	}
}
