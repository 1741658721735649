package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// A config file (--config FILE, TOML) sets a daemon's flags: its keys are
// the long flag names (api-token = "..."), its values typed as the flag is
// (a string, an integer, a float, a boolean, a duration as a string such
// as "30s", a list as an array of strings). Precedence, highest first:
// the command line, REACHD_* environment variables, the file, the
// defaults. dist/reachd.toml documents every key of reachd run.

// configFlag is the flag that names the config file.
const configFlag = "config"

// configPath finds --config in args (before "--"), else REACHD_CONFIG.
func configPath(args []string) (string, error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != configFlag {
			continue
		}
		if hasValue {
			return value, nil
		}
		if i+1 == len(args) {
			return "", usagef("flag needs an argument: -%s", configFlag)
		}
		return args[i+1], nil
	}
	return os.Getenv(envName(configFlag)), nil
}

// applyConfigFile sets the flags of fs from the TOML file at path. An
// unknown key, or a value of the wrong type, is a usage error naming the
// key and the file.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return usagef("config file: %w", err) // bad input: a restart will not fix it
	}
	var values map[string]any
	if err := toml.Unmarshal(b, &values); err != nil {
		return usagef("config file %s: %v", path, err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		f := fs.Lookup(key)
		if f == nil || key == configFlag {
			return usagef("config file %s: unknown key %q (the keys are the long flag names of %q)", path, key, fs.Name())
		}
		if err := setFromTOML(f, values[key]); err != nil {
			return usagef("config file %s: key %q: %v", path, key, err)
		}
	}
	return nil
}

// setFromTOML sets flag f from a decoded TOML value of the flag's type.
func setFromTOML(f *flag.Flag, v any) error {
	switch fv := f.Value.(type) {
	case *listFlag:
		switch v := v.(type) {
		case string:
			return fv.Set(v)
		case []any:
			items, err := stringItems(v)
			if err != nil {
				return err
			}
			return fv.Set(strings.Join(items, ","))
		}
		return fmt.Errorf("want an array of strings, got %s", tomlType(v))
	case *multiFlag:
		items, err := stringItems(v)
		if err != nil {
			return err
		}
		fv.items = nil
		for _, it := range items {
			if err := fv.Set(it); err != nil {
				return fmt.Errorf("%q: %w", it, err)
			}
		}
		return nil
	case *sizeFlag:
		switch v := v.(type) {
		case int64:
			return fv.Set(strconv.FormatInt(v, 10))
		case string:
			return fv.Set(v)
		}
		return fmt.Errorf("want a size (an integer of bytes, or a string such as \"8MiB\"), got %s", tomlType(v))
	case flag.Getter:
		var s string
		switch want := fv.Get().(type) {
		case string:
			str, ok := v.(string)
			if !ok {
				return fmt.Errorf("want a string, got %s", tomlType(v))
			}
			s = str
		case bool:
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("want a boolean, got %s", tomlType(v))
			}
			s = strconv.FormatBool(b)
		case int, int64, uint, uint64:
			n, ok := v.(int64)
			if !ok {
				return fmt.Errorf("want an integer, got %s", tomlType(v))
			}
			s = strconv.FormatInt(n, 10)
		case float64:
			switch v := v.(type) {
			case float64:
				s = strconv.FormatFloat(v, 'g', -1, 64)
			case int64:
				s = strconv.FormatInt(v, 10)
			default:
				return fmt.Errorf("want a number, got %s", tomlType(v))
			}
		case time.Duration:
			str, ok := v.(string)
			if !ok {
				return fmt.Errorf("want a duration as a string such as \"30s\", got %s", tomlType(v))
			}
			s = str
		default:
			return fmt.Errorf("flag type %T: not settable from a config file", want)
		}
		return fv.Set(s)
	default: // other Values (an IP address): their text form
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %s", tomlType(v))
		}
		return f.Value.Set(s)
	}
}

func stringItems(v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want an array of strings, got %s", tomlType(v))
	}
	items := make([]string, 0, len(arr))
	for _, it := range arr {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("want an array of strings, got an element of type %s", tomlType(it))
		}
		items = append(items, s)
	}
	return items, nil
}

// tomlType names a decoded TOML value's type for messages.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date"
	}
	return fmt.Sprintf("%T", v)
}

// restartMulti makes the next Set of every repeatable flag replace what an
// earlier source (the file, the environment) gave instead of adding to it.
func restartMulti(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if m, ok := f.Value.(*multiFlag); ok {
			m.restart = len(m.items) > 0
		}
	})
}
