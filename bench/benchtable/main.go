// Command benchtable reads the output of rounds of BenchmarkDatapath (and
// optionally BenchmarkIdle) on stdin and prints one Markdown table: per
// path the median MB/s, CPU and allocations over the rounds, and the
// median of the ratios taken within each round (so that the noise of a
// shared machine cancels out as far as it can).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// paths are the rows, in order, with the names the table shows.
var paths = []struct{ bench, name string }{
	{"raw-tcp", "raw TCP over loopback"},
	{"tls", "Go crypto/tls 1.3 alone"},
	{"secured", "reachd's secured stream (node.Conn, no API)"},
	{"secured-tcp-hops", "the secured stream between two plain TCP hops, no API"},
	{"websocket", "reachd through the API's WebSocket stream"},
	{"websocket-hops", "its two WebSocket hops alone, a plain relay between, no node"},
	{"send-recv", "reachd through POST /send + GET /recv (1 MiB)"},
	{"websocket-reachd", "the same, WebSocket, reachd processes"},
	{"send-recv-reachd", "the same, send/recv, reachd processes"},
}

// round is one run of every path: metric values by path and unit.
type round map[string]map[string]float64

func main() {
	rounds, idle, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	print(os.Stdout, rounds, idle)
}

// parse reads benchmark lines; a round starts at each raw-tcp line.
func parse(r io.Reader) ([]round, []map[string]float64, error) {
	var (
		rounds []round
		idle   []map[string]float64
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, nil, fmt.Errorf("%q: %v", sc.Text(), err)
			}
			m[f[i+1]] = v
		}
		switch path, ok := strings.CutPrefix(name, "BenchmarkDatapath/"); {
		case ok:
			if path == paths[0].bench || len(rounds) == 0 {
				rounds = append(rounds, round{})
			}
			rounds[len(rounds)-1][path] = m
		case name == "BenchmarkIdle":
			idle = append(idle, m)
		}
	}
	return rounds, idle, sc.Err()
}

func print(w io.Writer, rounds []round, idle []map[string]float64) {
	fmt.Fprintf(w, "%d rounds; medians; ratios taken within each round\n\n", len(rounds))
	fmt.Fprintln(w, "| path | MB/s | × raw TCP | × crypto/tls | × secured | CPU s/GiB | CPU × secured | allocs/MiB |")
	fmt.Fprintln(w, "| --- | --: | --: | --: | --: | --: | --: | --: |")
	for _, p := range paths {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", p.name,
			num(median(rounds, p.bench, "", "MB/s"), 0),
			num(median(rounds, p.bench, "raw-tcp", "MB/s"), 3),
			num(median(rounds, p.bench, "tls", "MB/s"), 2),
			num(median(rounds, p.bench, "secured", "MB/s"), 2),
			num(median(rounds, p.bench, "", "cpu-s/GiB"), 2),
			num(median(rounds, p.bench, "secured", "cpu-s/GiB"), 2),
			num(median(rounds, p.bench, "", "allocs/MiB"), 1))
	}
	fmt.Fprintln(w, "\nCPU s/GiB: the whole benchmark process (both nodes, both ends, the API clients), or for")
	fmt.Fprintln(w, "the rows of reachd processes the two daemons alone. allocs/MiB: the whole benchmark process.")
	for _, m := range idle {
		fmt.Fprintf(w, "\nidle connections, per connection and side: %s bytes resident (%s of live Go heap, %s of goroutine stacks)\n",
			num(m["rss-B/side"], 0), num(m["heap-B/side"], 0), num(m["stack-B/side"], 0))
	}
}

// median is the median over rounds of path's unit, divided by the
// reference path's value in the same round when ref is set; -1 when
// there is none.
func median(rounds []round, path, ref, unit string) float64 {
	var vs []float64
	for _, r := range rounds {
		v, ok := r[path][unit]
		if !ok {
			continue
		}
		if ref != "" {
			d, ok := r[ref][unit]
			if !ok || d == 0 {
				continue
			}
			v /= d
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return -1
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2]
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
}

func num(v float64, prec int) string {
	if v < 0 {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}
