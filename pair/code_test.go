package pair

import (
	"strings"
	"testing"
)

// FuzzParseCode: ParseCode never panics, and what it accepts prints as a
// code that parses back to itself.
func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"4821-amber-falcon-river", " 7 Amber FALCON river ", "0-a-b-c", "9999-zipper-zipper-zipper", "1--acid-acid-acid", "", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			return
		}
		again, err := ParseCode(c.String())
		if err != nil || again != c {
			t.Fatalf("ParseCode(%q) = %q, which parses as %q, %v", s, c, again, err)
		}
		if strings.ToLower(c.String()) != c.String() {
			t.Fatalf("code %q is not lower case", c)
		}
	})
}
