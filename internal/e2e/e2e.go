// Package e2e holds end-to-end tests: real reachd processes, started from a
// freshly built binary, in the NAT lab's network namespaces and on loopback.
// It has no code of its own beyond test helpers.
package e2e
