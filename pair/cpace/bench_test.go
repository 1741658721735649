package cpace

import (
	"crypto/rand"
	"testing"
)

// BenchmarkRun is one whole run, both parties: two generators, four
// scalar multiplications, two ISKs and the tags.
func BenchmarkRun(b *testing.B) {
	in := Inputs{PRS: []byte("4821-amber-falcon-river"), CI: []byte("ci"), SID: []byte("0123456789abcdef")}
	for b.Loop() {
		a, err := Start(in, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		r, err := Start(in, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		iskB, err := r.FinishResponder(a.Share(), nil)
		if err != nil {
			b.Fatal(err)
		}
		iskA, err := a.FinishInitiator(r.Share(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if CheckTag(MacKey(in.SID, iskA), r.Share(), nil, Tag(MacKey(in.SID, iskB), r.Share(), nil)) != nil {
			b.Fatal("tags differ")
		}
	}
}
