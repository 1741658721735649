package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// reachd pair prints a code and waits; reachd pair CODE --name on the other
// node completes it; each prints whom it saved under which name.
func TestPairCommand(t *testing.T) {
	p := startPair(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	offerOut := newSyncBuffer()
	offerDone := make(chan int, 1)
	var offerErr bytes.Buffer
	go func() {
		offerDone <- run(ctx, []string{"pair", "--api", p.apiA, "--name", "bee"}, strings.NewReader(""), offerOut, &offerErr)
	}()
	out := offerOut.waitFor(t, "waiting...")
	line, _, _ := strings.Cut(strings.TrimPrefix(out, "pairing code: "), "\n")
	code := strings.TrimSpace(line)

	var jout, jerr bytes.Buffer
	if c := run(ctx, []string{"pair", code, "--api", p.apiB}, strings.NewReader(""), &jout, &jerr); c != 2 || !strings.Contains(jerr.String(), "--name") {
		t.Errorf("pair CODE without --name: exit %d %q, want 2 asking for --name", c, jerr.String())
	}
	jerr.Reset()
	if c := run(ctx, []string{"pair", code, "--api", p.apiB, "--name", "ay"}, strings.NewReader(""), &jout, &jerr); c != 0 || jout.String() != "paired: saved "+p.a.ID()+" as ay\n" {
		t.Fatalf("pair CODE --name ay: exit %d %q %q", c, jout.String(), jerr.String())
	}
	if c := <-offerDone; c != 0 || !strings.HasSuffix(offerOut.String(), "paired: saved "+p.b.ID()+" as bee\n") || !strings.Contains(offerOut.String(), "is joining") {
		t.Errorf("pair (offer): exit %d %q %q", c, offerOut.String(), offerErr.String())
	}
}
