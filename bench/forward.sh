#!/bin/sh
# forward.sh prints the forward table of issue 20: goodput and CPU per GiB
# of one stream through a forward to a peer's service (a local TCP hop on
# each side of the secured stream), next to the secured stream alone and
# to ssh -L through a local sshd, in the same rounds (BenchmarkForward).
# ROUNDS (default 5) rounds of BENCHTIME (default 8x: 8 × 64 MiB); medians,
# and ratios taken within each round. The raw output is kept in $OUT when
# set.
set -eu
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
benchtime=${BENCHTIME:-8x}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=${OUT:-$dir/out.txt}
go test -c -o "$dir/bench.test" ./bench
: >"$out"
for r in $(seq "$rounds"); do
	echo "round $r/$rounds" >&2
	"$dir/bench.test" -test.run '^$' -test.bench '^BenchmarkForward$' -test.benchtime "$benchtime" >>"$out"
done
awk '
function median(list,   n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^BenchmarkForward\// {
	split($1, p, "/"); name = p[2]; sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i++) { if ($(i + 1) == "MB/s") mbs = $i; if ($(i + 1) == "cpu-s/GiB") cpu = $i }
	if (name == "secured") round++
	v[name, round] = mbs; c[name, round] = cpu
}
END {
	print "| path | MB/s | cpu-s/GiB | × secured | × ssh -L |"
	print "| --- | ---: | ---: | ---: | ---: |"
	n = split("secured forward ssh-l", names, " ")
	label["secured"] = "secured stream (node.Conn)"; label["forward"] = "forward (TCP hop, secured stream, TCP hop)"; label["ssh-l"] = "ssh -L through a local sshd"
	for (k = 1; k <= n; k++) {
		m = names[k]; ms = ""; cs = ""; rs = ""; rl = ""
		for (r = 1; r <= round; r++) {
			if (!((m, r) in v)) continue
			ms = ms " " v[m, r]; cs = cs " " c[m, r]
			if ((("secured", r) in v)) rs = rs " " v[m, r] / v["secured", r]
			if ((("ssh-l", r) in v)) rl = rl " " v[m, r] / v["ssh-l", r]
		}
		if (ms == "") continue
		printf "| %s | %.0f | %.2f | %s | %s |\n", label[m], median(ms), median(cs), rs == "" ? "-" : sprintf("%.2f", median(rs)), rl == "" ? "-" : sprintf("%.2f", median(rl))
	}
}' "$out"
