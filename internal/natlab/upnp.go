package natlab

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MapProtocol is a port mapping protocol a UPnP router's miniupnpd serves.
type MapProtocol int

// Mapping protocols.
const (
	PCP    MapProtocol = 1 << iota // RFC 6887, UDP 5351
	NATPMP                         // RFC 6886, UDP 5351
	IGD                            // UPnP IGD: SSDP and SOAP over HTTP
)

// upnpConfig is what the UPnP option sets.
type upnpConfig struct {
	stun   netip.AddrPort
	protos MapProtocol
}

// UPnP makes an Easy router run miniupnpd (Debian's miniupnpd-nftables),
// serving the given protocols to its LAN: mappings its hosts ask for are
// DNATed to them from the router's WAN address. miniupnpd serves PCP and
// NAT-PMP together or not at all; with only one of them, the router drops
// the other's requests (by the version byte). miniupnpd refuses to forward
// from a WAN address in a reserved range such as the lab's 203.0.113.0/24
// unless a STUN test (ext_perform_stun) finds it unfiltered, so stun must
// be a STUN server that honours CHANGE-REQUEST over UDP (the lab
// rendezvous's first address, with two STUN addresses), started before the
// router. Router.StopUPnP and StartUPnP stop and start it (a restart loses
// every mapping).
func UPnP(stun netip.AddrPort, protos ...MapProtocol) RouterOption {
	return optionFunc(func(c *routerConfig) {
		c.upnp = &upnpConfig{stun: stun}
		for _, p := range protos {
			c.upnp.protos |= p
		}
	})
}

// needMiniupnpd skips the test (or fails it under CI=true) when miniupnpd
// is not installed.
func needMiniupnpd(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("miniupnpd"); err != nil {
		if _, err := exec.LookPath("/usr/sbin/miniupnpd"); err != nil {
			unavailable(tb, "the UPnP option needs miniupnpd (Debian's miniupnpd-nftables)")
		}
	}
}

// miniupnpdTable is where miniupnpd 2.3.1 keeps its rules: every chain in
// one inet table named filter (its nat chains too), which the router's
// ruleset creates empty.
const miniupnpdTable = `table inet filter {
	chain forward {
		type filter hook forward priority filter; policy accept;
		jump miniupnpd
	}
	chain miniupnpd {
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump prerouting_miniupnpd
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		jump postrouting_miniupnpd
	}
	chain prerouting_miniupnpd {
	}
	chain postrouting_miniupnpd {
	}
}
`

// miniupnpdConf renders the router's miniupnpd.conf.
func (r *Router) miniupnpdConf(dir string) string {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	c := r.upnp
	return strings.Join([]string{
		"ext_ifname=" + wanIface,
		"listening_ip=" + lanIface,
		"http_port=5000",
		"enable_upnp=" + yes(c.protos&IGD != 0),
		"enable_natpmp=" + yes(c.protos&(PCP|NATPMP) != 0),
		"ext_perform_stun=yes",
		"ext_stun_host=" + c.stun.Addr().String(),
		fmt.Sprintf("ext_stun_port=%d", c.stun.Port()),
		"secure_mode=yes",
		"system_uptime=no",
		"min_lifetime=2", // tests ask short leases
		"max_lifetime=86400",
		"notify_interval=60",
		"clean_ruleset_interval=600",
		"uuid=" + fmt.Sprintf("3d3cec3a-8cf0-11e0-98ee-0000000000%02x", r.n),
		"upnp_table_name=filter",
		"upnp_nat_table_name=filter",
		"upnp_forward_chain=miniupnpd",
		"upnp_nat_chain=prerouting_miniupnpd",
		"upnp_nat_postrouting_chain=postrouting_miniupnpd",
		fmt.Sprintf("allow 1024-65535 %s 1024-65535", r.lan),
		"deny 0-65535 0.0.0.0/0 0-65535",
		"",
	}, "\n")
}

// StartUPnP starts the router's miniupnpd (made with the UPnP option) and
// waits until it serves: its log says it listens.
func (r *Router) StartUPnP() error {
	if r.upnp == nil {
		return fmt.Errorf("natlab: router %s has no UPnP option", r.Name())
	}
	r.upnpMu.Lock()
	defer r.upnpMu.Unlock()
	if r.upnpProc != nil {
		return fmt.Errorf("natlab: miniupnpd of %s runs already", r.Name())
	}
	dir := r.lab.tb.TempDir()
	conf := filepath.Join(dir, "miniupnpd.conf")
	if err := os.WriteFile(conf, []byte(r.miniupnpdConf(dir)), 0o644); err != nil {
		return fmt.Errorf("natlab: %w", err)
	}
	p := r.self.Start(r.lab.tb, "miniupnpd", "-f", conf, "-d", "-P", filepath.Join(dir, "miniupnpd.pid"))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), "Listening for NAT-PMP/PCP") && !strings.Contains(p.Output(), "HTTP listening on port") {
		select {
		case <-p.Done():
			return fmt.Errorf("natlab: miniupnpd of %s exited:\n%s", r.Name(), p.Output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return fmt.Errorf("natlab: miniupnpd of %s not serving after 10s:\n%s", r.Name(), p.Output())
		}
	}
	r.upnpProc = p
	return nil
}

// StopUPnP stops the router's miniupnpd and empties its chains (it leaves
// its rules behind when it stops), so its mappings are gone, as a router
// that restarts loses them.
func (r *Router) StopUPnP() error {
	r.upnpMu.Lock()
	defer r.upnpMu.Unlock()
	if r.upnpProc == nil {
		return nil
	}
	err := r.upnpProc.Stop()
	r.upnpProc = nil
	flush := "flush chain inet filter miniupnpd\nflush chain inet filter prerouting_miniupnpd\nflush chain inet filter postrouting_miniupnpd\n"
	if ferr := run(flush, "ip", "netns", "exec", r.Name(), "nft", "-f", "-"); ferr != nil {
		return fmt.Errorf("natlab: flush miniupnpd's chains: %w", ferr)
	}
	return err
}

// UPnPLog is what the router's miniupnpd wrote so far ("" when it is not
// running).
func (r *Router) UPnPLog() string {
	r.upnpMu.Lock()
	defer r.upnpMu.Unlock()
	if r.upnpProc == nil {
		return ""
	}
	return r.upnpProc.Output()
}
