package address_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/reachd/reachd/address"
)

// FuzzParse checks that Parse never panics, fails only with *ParseError, and
// that whatever it accepts re-encodes to the same text and validates.
// The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(docAddrA)
	f.Add("0-0-" + item6 + tailA)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := address.Parse(s)
		if err != nil {
			var pe *address.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %v is %T, not *ParseError", s, err, err)
			}
			return
		}
		if got := a.String(); got != s {
			t.Fatalf("Parse(%q).String() = %q", s, got)
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted an address Validate refuses: %v", s, err)
		}
		b, err := address.Parse(a.String())
		if err != nil {
			t.Fatalf("re-Parse(%q): %v", a.String(), err)
		}
		if !equal(a, b) {
			t.Fatalf("re-Parse(%q) = %+v, want %+v", s, b, a)
		}
	})
}

// TestFuzzCorpus checks that the seed files are what their names say, so the
// corpus keeps covering both accepted and refused inputs.
func TestFuzzCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzParse/*")
	if err != nil || len(files) < 6 {
		t.Fatalf("seed corpus: %d files, %v", len(files), err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
				!strings.HasPrefix(lines[1], "string(") || !strings.HasSuffix(lines[1], ")") {
				t.Fatalf("not a one-string fuzz corpus file: %q", b)
			}
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
			if err != nil {
				t.Fatalf("unquote %s: %v", lines[1], err)
			}
			_, err = address.Parse(s)
			switch {
			case strings.HasPrefix(name, "valid_") && err != nil:
				t.Errorf("Parse: %v", err)
			case strings.HasPrefix(name, "invalid_") && err == nil:
				t.Errorf("Parse(%q) succeeded", s)
			}
		})
	}
}
