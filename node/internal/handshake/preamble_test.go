package handshake

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/reachd/reachd/strategy"
)

const idA = "g7ryiscno6ny5vketvmw5u433tjokgnh4oasuxqvw3rg5fa52xeq" // a valid node ID

func TestPreambleRoundTrip(t *testing.T) {
	for _, p := range []Preamble{
		{From: idA},
		{Ticket: strategy.NewTicket(), From: idA},
	} {
		var b bytes.Buffer
		if err := WritePreamble(&b, p); err != nil {
			t.Fatal(err)
		}
		if b.Len() != PreambleLen {
			t.Fatalf("preamble is %d bytes, want %d", b.Len(), PreambleLen)
		}
		got, err := ReadPreamble(&b)
		if err != nil {
			t.Fatal(err)
		}
		if got != p {
			t.Fatalf("read %+v, wrote %+v", got, p)
		}
	}
}

func TestReadPreambleRefuses(t *testing.T) {
	good := Preamble{Ticket: strategy.NewTicket(), From: idA}.Append(nil)
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		in   []byte
		want error
		text string
	}{
		{"empty", nil, io.EOF, "read preamble"},
		{"short head", []byte("RCH"), io.ErrUnexpectedEOF, "read preamble"},
		{"bad magic", with(func(b []byte) []byte { b[0] = 'X'; return b }), ErrBadPreamble, "bad magic"},
		{"TLS instead", []byte{0x16, 0x03, 0x01, 0x02, 0x00}, ErrBadPreamble, "bad magic"},
		{"old version", with(func(b []byte) []byte { b[4] = 2; return b[:20] }), ErrVersion, "version 2"},
		{"newer version", with(func(b []byte) []byte { b[4] = 4; return b }), ErrVersion, "version 4"},
		{"cut node ID", good[:PreambleLen-1], io.ErrUnexpectedEOF, "read preamble"},
		{"bad node ID", with(func(b []byte) []byte { b[PreambleLen-1] = '!'; return b }), ErrBadPreamble, "node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadPreamble(bytes.NewReader(tc.in))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestAnswers(t *testing.T) {
	for _, tc := range []struct {
		answer Answer
		reason string // "" for accepted
	}{
		{AnswerOK, ""},
		{AnswerNotAllowed, "not allowed by its inbound policy"},
		{AnswerBusy, "busy"},
		{AnswerUnknownTicket, "no attempt is waiting for this connection"},
		{AnswerVersion, "it speaks another protocol version"},
	} {
		var b bytes.Buffer
		WriteAnswer(&b, tc.answer)
		err := ReadAnswer(&b)
		var refused *RefusedError
		switch {
		case tc.reason == "" && err != nil:
			t.Errorf("answer %q: %v, want accepted", tc.answer, err)
		case tc.reason != "" && (!errors.As(err, &refused) || refused.Reason != tc.reason):
			t.Errorf("answer %q: %v, want refused: %s", tc.answer, err, tc.reason)
		}
	}
	if err := ReadAnswer(bytes.NewReader([]byte{'x'})); !errors.Is(err, ErrBadPreamble) {
		t.Errorf("answer 'x': %v, want ErrBadPreamble", err)
	}
	if err := ReadAnswer(bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
		t.Errorf("no answer: %v, want EOF", err)
	}
}

// FuzzPreamble: any bytes read as a preamble give a preamble that writes
// back as those bytes, or an error; never a panic.
func FuzzPreamble(f *testing.F) {
	f.Add(Preamble{From: idA}.Append(nil))
	f.Add(Preamble{Ticket: strategy.Ticket{1, 2, 3}, From: idA}.Append(nil))
	f.Add([]byte("RCHD\x02"))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ReadPreamble(bytes.NewReader(in))
		if err != nil {
			return
		}
		if out := p.Append(nil); !bytes.Equal(out, in[:PreambleLen]) {
			t.Fatalf("read %x, writes back %x", in[:PreambleLen], out)
		}
	})
}

// FuzzAnswerAndCommit: every byte is an answer or an error, and a commit
// byte keeps, drops or fails; only the defined bytes are accepted.
func FuzzAnswerAndCommit(f *testing.F) {
	for _, b := range []byte{'O', 'P', 'B', 'S', 'V', 'K', 'D', 0, 0xff} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b byte) {
		err := checkAnswer(Answer(b))
		var refused *RefusedError
		switch {
		case err == nil && Answer(b) != AnswerOK:
			t.Fatalf("answer %#x accepted", b)
		case errors.As(err, &refused) && answerReasons[Answer(b)] == "":
			t.Fatalf("answer %#x refused with no reason of its own", b)
		case err != nil && !errors.As(err, &refused) && !errors.Is(err, ErrBadPreamble):
			t.Fatalf("answer %#x: %v", b, err)
		}
		kept := false
		err = decide(b, func() error { kept = true; return nil })
		switch {
		case kept != (b == commitKeep):
			t.Fatalf("commit byte %#x kept: %v", b, kept)
		case b == commitDrop && !errors.Is(err, ErrDropped):
			t.Fatalf("commit byte %#x: %v, want dropped", b, err)
		case b != commitKeep && b != commitDrop && !errors.Is(err, ErrBadPreamble):
			t.Fatalf("commit byte %#x: %v, want ErrBadPreamble", b, err)
		}
	})
}
