package cpace

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/gtank/ristretto255"
)

// vectors are the draft's test vectors for CPACE-RISTR255-SHA512 and its
// string functions; testdata/cpace-ristr255-sha512.json says where they
// come from.
type vectors struct {
	Generator   map[string]any    `json:"generator"`
	Protocol    map[string]string `json:"protocol"`
	ScalarMult  scalarMultVectors `json:"scalar_mult"`
	PrependLen  map[string]string `json:"prepend_len"`
	LVCat       map[string]string `json:"lv_cat"`
	TranscriptI map[string]string `json:"transcript_ir"`
}

type scalarMultVectors struct {
	Valid    map[string]string `json:"Valid"`
	Invalid1 string            `json:"Invalid Y1"`
	Invalid2 string            `json:"Invalid Y2"`
}

func load(t *testing.T) vectors {
	t.Helper()
	data, err := os.ReadFile("testdata/cpace-ristr255-sha512.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func unhex(t *testing.T, s any) []byte {
	t.Helper()
	str, ok := s.(string)
	if !ok {
		t.Fatalf("vector %v is not a hex string", s)
	}
	b, err := hex.DecodeString(str)
	if err != nil {
		t.Fatalf("vector %q: %v", str, err)
	}
	return b
}

func same(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", what, got, want)
	}
}

func TestVectorsStrings(t *testing.T) {
	v := load(t)
	ramp := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	same(t, "prepend_len(b'')", prependLen(nil), unhex(t, v.PrependLen["prepend_len(b'')"]))
	same(t, "prepend_len(b'1234')", prependLen([]byte("1234")), unhex(t, v.PrependLen["prepend_len(b'1234')"]))
	same(t, "prepend_len(range(127))", prependLen(ramp(127)), unhex(t, v.PrependLen["prepend_len(bytes(range(127)))"]))
	same(t, "prepend_len(range(128))", prependLen(ramp(128)), unhex(t, v.PrependLen["prepend_len(bytes(range(128)))"]))
	same(t, "lv_cat", lvCat([]byte("1234"), []byte("5"), nil, []byte("678")), unhex(t, v.LVCat["lv_cat(b'1234',b'5',b'',b'678')"]))
	same(t, "transcript_ir 1", transcriptIR([]byte("123"), []byte("PartyA"), []byte("234"), []byte("PartyB")),
		unhex(t, v.TranscriptI["transcript_ir(b'123',b'PartyA',b'234',b'PartyB')"]))
	same(t, "transcript_ir 2", transcriptIR([]byte("3456"), []byte("PartyA"), []byte("2345"), []byte("PartyB")),
		unhex(t, v.TranscriptI["transcript_ir(b'3456',b'PartyA',b'2345',b'PartyB')"]))
}

func TestVectorsGenerator(t *testing.T) {
	g := load(t).Generator
	same(t, "DSI", []byte(dsi), unhex(t, g["DSI"]))
	prs, ci, sid := unhex(t, g["PRS"]), unhex(t, g["CI"]), unhex(t, g["sid"])
	gs := generatorString([]byte(dsi), prs, ci, sid, sInBytes)
	same(t, "generator_string", gs, unhex(t, g["generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)"]))
	h := sha512.Sum512(gs)
	same(t, "hash result", h[:], unhex(t, g["hash result"]))
	same(t, "encoded generator g", generator(prs, ci, sid).Encode(nil), unhex(t, g["encoded generator g"]))
}

func TestVectorsProtocol(t *testing.T) {
	p := load(t).Protocol
	h := func(k string) []byte { return unhex(t, p[k]) }
	same(t, "g", generator(h("PRS"), h("CI"), h("sid")).Encode(nil), h("g"))

	a, err := startWith(Inputs{PRS: h("PRS"), CI: h("CI"), SID: h("sid"), AD: h("ADa")}, h("ya"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := startWith(Inputs{PRS: h("PRS"), CI: h("CI"), SID: h("sid"), AD: h("ADb")}, h("yb"))
	if err != nil {
		t.Fatal(err)
	}
	same(t, "Ya", a.Share(), h("Ya"))
	same(t, "Yb", b.Share(), h("Yb"))
	ka, err := a.secret(b.Share())
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.secret(a.Share())
	if err != nil {
		t.Fatal(err)
	}
	same(t, "K (A)", ka, h("K"))
	same(t, "K (B)", kb, h("K"))
	iskA, err := a.FinishInitiator(b.Share(), h("ADb"))
	if err != nil {
		t.Fatal(err)
	}
	iskB, err := b.FinishResponder(a.Share(), h("ADa"))
	if err != nil {
		t.Fatal(err)
	}
	same(t, "ISK_IR (A)", iskA, h("ISK_IR"))
	same(t, "ISK_IR (B)", iskB, h("ISK_IR"))
	sidOut := sha512.Sum512(append([]byte("CPaceSidOutput"), transcriptIR(h("Ya"), h("ADa"), h("Yb"), h("ADb"))...))
	same(t, "sid_output_ir", sidOut[:], h("sid_output_ir"))
}

func TestVectorsScalarMult(t *testing.T) {
	v := load(t).ScalarMult
	y := ristretto255.NewScalar()
	if err := y.Decode(unhex(t, v.Valid["s"])); err != nil {
		t.Fatal(err)
	}
	x := unhex(t, v.Valid["X"])
	same(t, "scalar_mult_vfy(s,X)", scalarMultVfy(y, x), unhex(t, v.Valid["G.scalar_mult_vfy(s,X)"]))
	e := ristretto255.NewElement()
	if err := e.Decode(x); err != nil {
		t.Fatal(err)
	}
	same(t, "scalar_mult(s,decode(X))", ristretto255.NewElement().ScalarMult(y, e).Encode(nil), unhex(t, v.Valid["G.scalar_mult(s,decode(X))"]))
	for _, bad := range []string{v.Invalid1, v.Invalid2} {
		same(t, "scalar_mult_vfy(s,"+bad+")", scalarMultVfy(y, unhex(t, bad)), identity[:])
		// A share that is one of these ends the run.
		st := &State{y: y}
		if _, err := st.FinishInitiator(unhex(t, bad), nil); !errors.Is(err, ErrInvalidShare) {
			t.Errorf("FinishInitiator(%s) = %v, want ErrInvalidShare", bad, err)
		}
		if _, err := st.FinishResponder(unhex(t, bad), nil); !errors.Is(err, ErrInvalidShare) {
			t.Errorf("FinishResponder(%s) = %v, want ErrInvalidShare", bad, err)
		}
	}
}

// TestRun: two runs with the same inputs agree on the key and confirm it;
// another password gives another key and a tag that fails.
func TestRun(t *testing.T) {
	in := func(prs, ad string) Inputs {
		return Inputs{PRS: []byte(prs), CI: []byte("ci"), SID: []byte("sid"), AD: []byte(ad)}
	}
	for _, tc := range []struct {
		name     string
		prsA     string
		prsB     string
		wantSame bool
	}{
		{"same password", "1234-one-two", "1234-one-two", true},
		{"other password", "1234-one-two", "1234-one-three", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Start(in(tc.prsA, "A"), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Start(in(tc.prsB, "B"), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			iskB, err := b.FinishResponder(a.Share(), []byte("A"))
			if err != nil {
				t.Fatal(err)
			}
			iskA, err := a.FinishInitiator(b.Share(), []byte("B"))
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Equal(iskA, iskB); got != tc.wantSame {
				t.Fatalf("keys equal = %v, want %v", got, tc.wantSame)
			}
			tagB := Tag(MacKey([]byte("sid"), iskB), b.Share(), []byte("B"))
			err = CheckTag(MacKey([]byte("sid"), iskA), b.Share(), []byte("B"), tagB)
			if tc.wantSame && err != nil {
				t.Fatalf("CheckTag: %v", err)
			}
			if !tc.wantSame && !errors.Is(err, ErrTag) {
				t.Fatalf("CheckTag = %v, want ErrTag", err)
			}
		})
	}
}
