package natlab

// AddCGNAT adds a carrier-grade NAT router of the given kind (Easy, Hard or
// FullCone: how it maps and filters) on the WAN bridge. Its LAN is the
// carrier's access network 100.64.N.0/24 out of the shared address space
// (RFC 6598); put home routers there with its AddRouter, and hosts (phones
// on a mobile network) with its AddHost. In a lab built WithIPv6 a CGNAT
// routes IPv6 unfiltered, as carriers do. Options as for AddRouter.
func (l *Lab) AddCGNAT(kind Kind, opts ...RouterOption) *Router {
	l.tb.Helper()
	r, err := l.addRouter(kind, routerOptions(opts), nil, true)
	if err != nil {
		l.tb.Fatalf("natlab: add %s cgnat: %v", kind, err)
	}
	return r
}

// AddRouter adds a home router of the given kind behind r, which must have
// been made by Lab.AddCGNAT: its WAN interface takes the next free address
// on r's LAN (100.64.N.x), so what its hosts send is translated twice. Any
// kind but Public. Options as for Lab.AddRouter; a Link impairs the link
// between the router and the CGNAT.
func (r *Router) AddRouter(kind Kind, opts ...RouterOption) *Router {
	r.lab.tb.Helper()
	hr, err := r.lab.addRouter(kind, routerOptions(opts), r, false)
	if err != nil {
		r.lab.tb.Fatalf("natlab: add %s router behind %s: %v", kind, r.Name(), err)
	}
	return hr
}

// upstream returns the namespace holding the router's port: the WAN, or
// its CGNAT.
func (r *Router) upstream() string {
	if r.up != nil {
		return r.up.Name()
	}
	return r.lab.wan.name
}

// allocAddr takes the next free address index on the router's LAN.
func (r *Router) allocAddr() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := lanAddr(r.lan, r.next); err != nil {
		return 0, err
	}
	r.next++
	return r.next - 1, nil
}

// CGNAT reports whether the router is a carrier-grade NAT (Lab.AddCGNAT).
func (r *Router) CGNAT() bool { return r.cgnat }

// Upstream returns the CGNAT the router sits behind, or nil for a router on
// the WAN bridge.
func (r *Router) Upstream() *Router { return r.up }
