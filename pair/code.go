package pair

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// A code is what the two people read to each other: a number and three
// words, as "4821-amber-falcon-river". The number (1 to 9999) names the
// offer's rendezvous topic, which brokers see: it is public. The whole code
// is CPace's password; what an attacker does not know is the words, 3 × 8
// bits from a list of 256, so one guess succeeds with odds of 1 in 2^24
// (16,777,216), and a guess ends the offer.

// Code is a pairing code.
type Code struct {
	Number int       // 1..MaxNumber: the rendezvous, public
	Words  [3]string // from words: the secret part
}

// MaxNumber is the largest code number.
const MaxNumber = 9999

// NewCode draws a code from r.
func NewCode(r io.Reader) (Code, error) {
	var b [5]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return Code{}, fmt.Errorf("pair: new code: %w", err)
	}
	c := Code{Number: 1 + int(binary.BigEndian.Uint16(b[:2]))%MaxNumber} // the bias does not matter: the number is public
	for i := range c.Words {
		c.Words[i] = words[b[2+i]]
	}
	return c, nil
}

// ParseCode reads a code as a person may type it: upper or lower case,
// its parts joined by '-' or spaces.
func ParseCode(s string) (Code, error) {
	parts := strings.FieldsFunc(strings.ToLower(strings.TrimSpace(s)), func(r rune) bool { return r == '-' || r == ' ' || r == '\t' })
	if len(parts) != 4 {
		return Code{}, ErrCodeSyntax
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 1 || n > MaxNumber {
		return Code{}, ErrCodeSyntax
	}
	c := Code{Number: n}
	for i, w := range parts[1:] {
		if _, ok := slices.BinarySearch(words[:], w); !ok {
			return Code{}, fmt.Errorf("%w: %q is not one of its words", ErrCodeSyntax, w)
		}
		c.Words[i] = w
	}
	return c, nil
}

// String is the code's canonical form, which is also CPace's password.
func (c Code) String() string {
	return strconv.Itoa(c.Number) + "-" + strings.Join(c.Words[:], "-")
}
