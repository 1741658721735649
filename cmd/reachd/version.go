package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// versionInfo is what reachd version prints.
type versionInfo struct {
	// Version is the module version ("v1.2.0"), or "devel" for a build
	// from a source tree.
	Version string `json:"version"`
	// Commit is the VCS revision built, or "devel" when the build did not
	// record one; Modified says the tree had uncommitted changes.
	Commit   string `json:"commit"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
}

// buildVersion reads the version from the binary's build information.
func buildVersion(bi *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Version: "devel", Commit: "devel", Go: runtime.Version()}
	if !ok {
		return v
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func runVersion(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reachd version", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the version as JSON")
	if _, err := parseFlags(fs, args, stderr, 0); err != nil {
		return err
	}
	v := buildVersion(debug.ReadBuildInfo())
	if *asJSON {
		return json.NewEncoder(stdout).Encode(v)
	}
	modified := ""
	if v.Modified {
		modified = " (modified)"
	}
	_, err := fmt.Fprintf(stdout, "reachd %s\ncommit %s%s\n%s\n", v.Version, v.Commit, modified, v.Go)
	return err
}
