package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/reachd/reachd/network"
	"github.com/reachd/reachd/state"
)

// What the API changes lasts: the named networks joined and the inbound
// policy are saved in the state file (package state) before the API call
// that changed them returns, and restored when the node starts.
//
// Precedence: a policy saved in the state file wins over Config.Accept and
// Config.Allow (the daemon's --accept and --allow flags), which are only
// the first start's policy: a policy set through the API stays until the
// API changes it again. A node whose flags differ from the saved policy
// logs so at start. Saved networks are joined again once the node is
// ready; one that fails to join stays saved and is logged.

// The state file's sections this package owns.
const (
	sectionNetworks = "networks"
	sectionPolicy   = "policy"
)

// savedNetwork is a joined network as the state file keeps it.
type savedNetwork struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
	// IP is the address as asked for: a prefix ("10.99.0.1/24") or "auto".
	IP string `json:"ip"`
	// Address is the address the network had when it was saved: for
	// "auto", the one picked (a rejoin picks again and logs a change).
	Address string `json:"address,omitempty"`
}

// persister is the node's part of the state file.
type persister struct {
	store *state.Store

	mu   sync.Mutex // orders the read-modify-write of the networks section
	nets []savedNetwork
}

// openState reads the node's sections of the state file and returns the
// policy to start with: the saved one, else the configured one.
func openState(st *state.Store, cfg Config, configured Policy) (*persister, Policy, error) {
	p := &persister{store: st}
	if _, err := st.Get(sectionNetworks, &p.nets); err != nil {
		return nil, Policy{}, err
	}
	var saved Policy
	ok, err := st.Get(sectionPolicy, &saved)
	if err != nil {
		return nil, Policy{}, err
	}
	if !ok {
		return p, configured, nil
	}
	if saved, err = checkPolicy(saved); err != nil {
		return nil, Policy{}, fmt.Errorf("state: %w: %s: section %q: %w", state.ErrCorrupt, st.Path(), sectionPolicy, err)
	}
	if cfg.Accept != "" || len(cfg.Allow) > 0 {
		if saved.Accept != configured.Accept || !slices.Equal(saved.Allow, configured.Allow) {
			cfg.Logger.Info("inbound policy: the one set through the API wins over the flags; change it through the API",
				"component", "node", "accept", saved.Accept, "allow", len(saved.Allow), "state", st.Path())
		}
	}
	return p, saved, nil
}

// putPolicy saves the policy.
func (p *persister) putPolicy(pol Policy) error {
	return p.store.Put(sectionPolicy, pol)
}

// putNetwork saves a joined network, replacing one of the same name.
func (p *persister) putNetwork(cfg network.JoinConfig, address string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	nets := slices.DeleteFunc(slices.Clone(p.nets), func(s savedNetwork) bool { return s.Name == cfg.Name })
	nets = append(nets, savedNetwork{Name: cfg.Name, Secret: cfg.Secret, IP: cfg.IP, Address: address})
	slices.SortFunc(nets, func(a, b savedNetwork) int { return strings.Compare(a.Name, b.Name) })
	if err := p.store.Put(sectionNetworks, nets); err != nil {
		return err
	}
	p.nets = nets
	return nil
}

// dropNetwork forgets a network left.
func (p *persister) dropNetwork(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	nets := slices.DeleteFunc(slices.Clone(p.nets), func(s savedNetwork) bool { return s.Name == name })
	if len(nets) == len(p.nets) {
		return nil
	}
	if err := p.store.Put(sectionNetworks, nets); err != nil {
		return err
	}
	p.nets = nets
	return nil
}

// has reports whether network name is saved.
func (p *persister) has(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.nets, func(s savedNetwork) bool { return s.Name == name })
}

// savedNetworks are the networks to join again.
func (p *persister) savedNetworks() []savedNetwork {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.nets)
}

// restoreNetworks joins the saved networks again once the node is ready.
func (n *Node) restoreNetworks() {
	saved := n.persist.savedNetworks()
	if len(saved) == 0 {
		return
	}
	select {
	case <-n.ready:
	case <-n.ctx.Done():
		return
	}
	for _, s := range saved {
		if !n.persist.has(s.Name) {
			continue // left through the API before the node was ready
		}
		info, err := n.JoinNetwork(n.ctx, network.JoinConfig{Name: s.Name, Secret: s.Secret, IP: s.IP})
		switch {
		case n.ctx.Err() != nil:
			return
		case errors.Is(err, network.ErrJoined):
			continue // joined through the API meanwhile
		case err != nil:
			n.log.Warn("network: could not join again; it stays saved", "network", s.Name, "err", err)
			continue
		}
		n.log.Info("network joined again", "network", s.Name, "ip", info.IP)
		if s.Address != "" && info.IP != s.Address {
			n.log.Info("network: automatic address changed", "network", s.Name, "was", s.Address, "now", info.IP)
		}
	}
}

// joined saves a network after a join; a join that cannot be saved is
// undone, so that what the API acknowledges lasts.
func (n *Node) joined(ctx context.Context, cfg network.JoinConfig, info network.Info) (network.Info, error) {
	if err := n.persist.putNetwork(cfg, info.IP); err != nil {
		if lerr := n.networks().Leave(ctx, cfg.Name); lerr != nil {
			n.log.Warn("network: leave after a failed save", "network", cfg.Name, "err", lerr)
		}
		return network.Info{}, fmt.Errorf("node: join %s: %w", cfg.Name, err)
	}
	return info, nil
}
