package natprobe

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"syscall"
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

// samplePort makes one binding from the given local port to the delta
// reference server and returns the mapped port. A bind error (the port is
// taken) makes deltaTests choose another port.
type samplePort func(ctx context.Context, port uint16) (uint16, error)

// deltaTests takes the port-delta samples: DeltaSamples bindings from
// consecutive local ports, then as many from random local ports, one after
// the other so the NAT allocates in that order.
func (p *Prober) deltaTests(ctx context.Context, sample samplePort, res *Result) {
	n := p.cfg.DeltaSamples
	lost := 0
	var base int
consecutive:
	for range 3 {
		base = 1024 + rand.IntN(65536-1024-n)
		res.DeltaConsecutive = res.DeltaConsecutive[:0]
		for i := range n {
			if ctx.Err() != nil {
				break consecutive
			}
			port := uint16(base + i)
			m, err := sample(ctx, port)
			switch {
			case isBindError(err):
				continue consecutive
			case err != nil:
				lost++
			default:
				res.DeltaConsecutive = append(res.DeltaConsecutive, Binding{Local: port, Mapped: m})
			}
		}
		break
	}
	for range n {
		for range 5 {
			if ctx.Err() != nil {
				break
			}
			port := 1024 + rand.IntN(65536-1024)
			if port >= base && port < base+n {
				continue
			}
			m, err := sample(ctx, uint16(port))
			if isBindError(err) {
				continue
			}
			if err != nil {
				lost++
			} else {
				res.DeltaRandom = append(res.DeltaRandom, Binding{Local: uint16(port), Mapped: m})
			}
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

func isBindError(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL)
}
