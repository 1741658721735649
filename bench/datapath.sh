#!/bin/sh
# datapath.sh prints the data-path table of issue 10 for the current code:
# one stream between two nodes on loopback through each layer, next to raw
# TCP and crypto/tls in the same process and round (see
# BenchmarkDatapath), then the memory of 1,000 idle connections
# (BenchmarkIdle). ROUNDS (default 5) rounds of BENCHTIME (default 16x:
# 16 × 64 MiB = 1 GiB per path and round); medians, and ratios taken
# within each round. IDLE=0 skips the idle connections. The raw benchmark
# output is kept in $OUT when set.
set -eu
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
benchtime=${BENCHTIME:-16x}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=${OUT:-$dir/out.txt}
go test -c -o "$dir/bench.test" ./bench
go build -o "$dir/benchtable" ./bench/benchtable
go build -o "$dir/reachd" ./cmd/reachd
export REACHD_BIN="$dir/reachd"
: >"$out"
for r in $(seq "$rounds"); do
	echo "round $r/$rounds" >&2
	"$dir/bench.test" -test.run '^$' -test.bench '^BenchmarkDatapath$' -test.benchtime "$benchtime" >>"$out"
done
if [ "${IDLE:-1}" != 0 ]; then
	echo "idle connections" >&2
	"$dir/bench.test" -test.run '^$' -test.bench '^BenchmarkIdle$' -test.benchtime 1x >>"$out"
fi
"$dir/benchtable" <"$out"
