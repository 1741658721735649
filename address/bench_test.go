package address_test

import (
	"testing"

	"github.com/reachd/reachd/address"
)

var benchAddr = "0,1-" + item4 + "|[3,1,198.51.100.9,192.168.0.3,40001,6,4,2]-" + item6 + tailA

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchAddr)))
	for b.Loop() {
		if _, err := address.Parse(benchAddr); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkString(b *testing.B) {
	a, err := address.Parse(benchAddr)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = a.String()
	}
}
