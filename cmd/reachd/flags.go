package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// errHelp is returned when the user asked for a command's usage.
var errHelp = errors.New("help requested")

// usageError is bad command-line input: reported with exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// envName is the environment variable that sets a flag: --api-token is
// REACHD_API_TOKEN.
func envName(flagName string) string {
	return "REACHD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags applies the config file (--config, when fs has it; see
// config.go), then REACHD_* environment variables, then the command line,
// so a flag beats its variable, which beats the file. Positional arguments may come
// before, between or after the flags ("--" ends the flags); it returns them,
// and more than maxArgs of them is a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, maxArgs int) ([]string, error) {
	fs.SetOutput(stderr)
	if fs.Lookup(configFlag) != nil {
		path, err := configPath(args)
		if err != nil {
			return nil, err
		}
		if path != "" {
			if err := applyConfigFile(fs, path); err != nil {
				return nil, err
			}
			restartMulti(fs)
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok || envErr != nil {
			return
		}
		if err := f.Value.Set(v); err != nil {
			envErr = usagef("%s=%q: %v", envName(f.Name), v, err)
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	restartMulti(fs)
	// The flag package prints its own message for bad flags; we add ours.
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stderr)
				fs.Usage()
				return nil, errHelp
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if len(positional) > maxArgs {
		return nil, usagef("unexpected argument %q", positional[maxArgs])
	}
	return positional, nil
}

// listFlag is a comma-separated list; each Set replaces the list, so an
// environment default is overridden, not appended to, by the flag.
type listFlag struct {
	items    []string
	validate func(string) error
}

func (l *listFlag) String() string { return strings.Join(l.items, ",") }

func (l *listFlag) Set(s string) error {
	var items []string
	for _, it := range strings.Split(s, ",") {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		if l.validate != nil {
			if err := l.validate(it); err != nil {
				return fmt.Errorf("%q: %w", it, err)
			}
		}
		items = append(items, it)
	}
	l.items = items
	return nil
}

// multiFlag is a repeatable flag: every use adds one item.
type multiFlag struct {
	items    []string
	validate func(string) error
	// restart: the items came from an earlier source (the config file,
	// the environment), which the next Set replaces.
	restart bool
}

func (m *multiFlag) String() string { return strings.Join(m.items, ",") }

func (m *multiFlag) Set(s string) error {
	if m.validate != nil {
		if err := m.validate(s); err != nil {
			return err
		}
	}
	if m.restart {
		m.items, m.restart = nil, false
	}
	m.items = append(m.items, s)
	return nil
}

// validHostPort accepts host:port with a numeric port; the host may be empty
// (all addresses).
func validHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// validHostOptionalPort accepts host or host:port.
func validHostOptionalPort(s string) error {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return validHostPort(s)
	}
	if s == "" || strings.ContainsAny(s, " /") {
		return errors.New("want host or host:port")
	}
	return nil
}

// ipFlag is an optional IP address.
type ipFlag struct{ addr netip.Addr }

func (f *ipFlag) String() string {
	if !f.addr.IsValid() {
		return ""
	}
	return f.addr.String()
}

func (f *ipFlag) Set(s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("not an IP address: %q", s)
	}
	f.addr = a
	return nil
}
