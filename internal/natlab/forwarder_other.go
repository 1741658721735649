//go:build !linux

package natlab

type forwarder struct{}

func startForwarder(ns, a, b string, l Link) (*forwarder, error) { return nil, errNotLinux }

func (f *forwarder) setLink(Link) {}

func (f *forwarder) close() {}

func (f *forwarder) stats() LinkStats { return LinkStats{} }
