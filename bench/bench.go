// Package bench holds reachd's data-path benchmarks: one stream moved
// between two nodes on loopback through each layer (the secured stream,
// the API's WebSocket stream, POST /send with GET /recv), next to raw TCP
// and crypto/tls alone in the same process, and the memory an idle
// connection costs. The benchmarks are in datapath_test.go; datapath.sh
// runs them in rounds and prints the table (see cmd/benchtable).
package bench
