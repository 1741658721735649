package natprobe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/reachd/reachd/address"
)

// This file holds the test phases both protocols share; udp.go and tcp.go
// supply the exchange over their sockets.

// exchangeFunc does one Binding transaction from the socket under test to
// dst.
type exchangeFunc func(ctx context.Context, dst netip.AddrPort) (answer, time.Duration, error)

// reply is a successful exchange.
type reply struct {
	dst netip.AddrPort
	ans answer
}

// testI sends a Binding request to every target concurrently (RFC 5780
// test I), records each outcome in res.Servers and returns the answers in
// target order.
func testI(ctx context.Context, targets []target, ex exchangeFunc, res *Result) []reply {
	results := make([]ServerResult, len(targets))
	answers := make([]answer, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			results[i] = ServerResult{Server: t.name, Addr: t.addr}
			a, rtt, err := ex(ctx, t.addr)
			if err != nil {
				results[i].Error = err.Error()
				return
			}
			answers[i] = a
			results[i].Mapped, results[i].Other = a.Mapped, a.Other
			results[i].RTTMs = float64(rtt.Microseconds()) / 1000
		})
	}
	wg.Wait()
	res.Servers = append(res.Servers, results...)
	var got []reply
	for i, r := range results {
		if r.Error == "" {
			got = append(got, reply{dst: targets[i].addr, ans: answers[i]})
		}
	}
	return got
}

// external fills in the external IP and mapped address from test I and
// reports whether the first mapping equals the local address (no NAT).
func external(got []reply, res *Result) (mappedIsLocal bool) {
	obs := make([]Observation, len(got))
	for i, g := range got {
		obs[i] = Observation{Server: g.dst, Mapped: g.ans.Mapped}
	}
	var reason string
	res.ExternalIP, reason = agreedIP(obs)
	if reason != "" {
		res.Reason = reason
	}
	res.Mappings = obs
	res.MappedAddr = got[0].ans.Mapped
	l, m := res.LocalAddr, res.MappedAddr
	return l.Addr().WithZone("") == m.Addr().WithZone("") && l.Port() == m.Port()
}

// mappingTests runs RFC 5780 tests II (other IP, primary port) and III
// (other address) for every server that offered OTHER-ADDRESS, from the
// test I socket, then classifies all mappings. It returns why the
// behaviour stayed unknown or untested, if it did.
func mappingTests(ctx context.Context, got []reply, ex exchangeFunc, res *Result) (why string) {
	seen := make(map[netip.AddrPort]bool)
	for _, g := range got {
		seen[g.dst] = true
	}
	var dsts []netip.AddrPort
	for _, g := range got {
		o := g.ans.Other
		if !o.IsValid() || o.Addr().Is4() != g.dst.Addr().Is4() {
			continue
		}
		if o.Addr().IsLinkLocalUnicast() {
			o = netip.AddrPortFrom(o.Addr().WithZone(g.dst.Addr().Zone()), o.Port())
		}
		cands := []netip.AddrPort{o}
		if o.Addr() != g.dst.Addr() {
			cands = []netip.AddrPort{netip.AddrPortFrom(o.Addr(), g.dst.Port()), o}
		}
		for _, c := range cands {
			if !seen[c] {
				seen[c] = true
				dsts = append(dsts, c)
			}
		}
	}
	obs := make([]Observation, len(dsts))
	errs := make([]error, len(dsts))
	var wg sync.WaitGroup
	for i, dst := range dsts {
		wg.Go(func() {
			a, _, err := ex(ctx, dst)
			obs[i], errs[i] = Observation{Server: dst, Mapped: a.Mapped}, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			res.note(fmt.Sprintf("mapping test to %s: %v", dsts[i], err))
			continue
		}
		res.Mappings = append(res.Mappings, obs[i])
	}
	if len(got)+len(dsts) < 2 {
		res.Mapping = BehaviorUntested
		return "mapping behaviour untested: one stun server address and no OTHER-ADDRESS " +
			"(configure two servers, or one RFC 5780 server)"
	}
	res.Mapping = ClassifyMapping(res.Mappings)
	if res.Mapping == BehaviorUnknown {
		return "mapping behaviour unknown: only one server address answered"
	}
	return ""
}

// deltaSocket is a local port held for one port-delta sample.
type deltaSocket interface {
	// sample makes one binding from the port to the reference server and
	// returns the mapped port.
	sample(ctx context.Context) (uint16, error)
	close()
}

// bindPort reserves a local port for a delta sample.
type bindPort func(port uint16) (deltaSocket, error)

// Delta sample ports come from [deltaPortMin, deltaPortMax): below the
// default ephemeral ranges of Linux (32768-60999), macOS and Windows
// (49152-65535), where outgoing connections and their TIME_WAIT remnants
// would often hold the port.
const (
	deltaPortMin = 16384
	deltaPortMax = 32768
	deltaTries   = 8
)

// deltaTests takes the port-delta samples: DeltaSamples bindings from
// consecutive local ports, then as many from random local ports, one after
// the other so the NAT allocates in that order. All consecutive ports are
// reserved before the first sample, so the NAT sees an unbroken run.
func (p *Prober) deltaTests(ctx context.Context, bind bindPort, res *Result) {
	n := p.cfg.DeltaSamples
	lost := 0
	var base int
	var socks []deltaSocket
	for range deltaTries {
		base = deltaPortMin + rand.IntN(deltaPortMax-deltaPortMin-n)
		socks = socks[:0]
		for i := range n {
			s, err := bind(uint16(base + i))
			if err != nil {
				break
			}
			socks = append(socks, s)
		}
		if len(socks) == n {
			break
		}
		for _, s := range socks {
			s.close()
		}
		socks = nil
	}
	if socks == nil {
		res.note(fmt.Sprintf("port delta: found no %d free consecutive local ports", n))
	}
	for i, s := range socks {
		if m, err := s.sample(ctx); err != nil {
			lost++
		} else {
			res.DeltaConsecutive = append(res.DeltaConsecutive, Binding{Local: uint16(base + i), Mapped: m})
		}
		s.close()
	}
	for range n {
		for range deltaTries {
			port := deltaPortMin + rand.IntN(deltaPortMax-deltaPortMin)
			if port >= base && port < base+n {
				continue
			}
			s, err := bind(uint16(port))
			if err != nil {
				continue
			}
			if m, err := s.sample(ctx); err != nil {
				lost++
			} else {
				res.DeltaRandom = append(res.DeltaRandom, Binding{Local: uint16(port), Mapped: m})
			}
			s.close()
			break
		}
	}
	res.Delta, res.DeltaValue = ClassifyDelta(res.DeltaConsecutive, res.DeltaRandom)
	if lost > 0 {
		res.note(fmt.Sprintf("port delta: %d of %d samples got no answer", lost, 2*n))
	}
	if res.Delta == address.DeltaUnknown {
		res.note("port delta unknown: too few samples")
	}
}
