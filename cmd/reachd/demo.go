package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/reachd/reachd/node"
	"github.com/reachd/reachd/rendezvous"
	"github.com/reachd/reachd/server"
)

// Demo TURN credential of reachd demo's rendezvous.
const demoTURNUser, demoTURNPass = "demo", "demo"

// runDemo starts a rendezvous and two nodes on loopback, waits until both
// are ready and prints their dashboard URLs. It runs until interrupted
// unless --once is given.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd demo", flag.ContinueOnError)
	once := fs.Bool("once", false, "exit once the demo is up instead of running until interrupted")
	dataDir := fs.String("data-dir", "", "`dir`ectory for the demo nodes' keys (default: a temporary one)")
	logLevel := fs.String("log-level", "warn", "log `level`: debug, info, warn or error")
	if err := parseFlags(fs, args, stderr, false); err != nil {
		return err
	}
	logger, err := newLogger(stderr, *logLevel)
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
	fmt.Fprintf(stdout, "rendezvous: mqtt %s, stun %v, turn %s\n", rv.MQTTAddr(), rv.STUNAddrs(), rv.TURNAddr())

	var stun []string
	for _, a := range rv.STUNAddrs() {
		stun = append(stun, a.String())
	}
	for _, name := range []string{"alice", "bob"} {
		n, err := node.New(node.Config{
			DataDir: filepath.Join(*dataDir, name),
			MQTT:    []string{"mqtt://" + rv.MQTTAddr()},
			STUN:    stun,
			TURN:    []string{fmt.Sprintf("turn://%s:%s@%s", demoTURNUser, demoTURNPass, rv.TURNAddr())},
			NTP:     []string{"off"}, // both nodes share this machine's clock
			Logger:  logger.With("node", name),
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
		select {
		case <-n.Ready():
		case <-ctx.Done():
			return ctx.Err()
		}
		fmt.Fprintf(stdout, "%s: node %s\n  dashboard http://%s/\n  address   %s\n", name, n.ID(), srv.Addr(), n.Address())
	}
	if *once {
		return nil
	}
	fmt.Fprintln(stdout, "demo running; press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}
