//go:build linux

package tap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// New creates a TAP device as cfg describes and sets it up: MAC, MTU,
// addresses, link up. The device lives until Close (or until the process
// exits: it is not persistent).
//
// The Config is validated before anything on the system is touched. The
// device is created in the network namespace of the calling thread.
func New(cfg Config) (*Device, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if !hasNetAdmin() {
		return nil, fmt.Errorf("%w: create %s: needs root or CAP_NET_ADMIN (not in the effective set)", ErrPermission, cfg.Name)
	}
	if err := checkFree(cfg); err != nil {
		return nil, err
	}

	ifce, err := water.New(water.Config{
		DeviceType:             water.TAP,
		PlatformSpecificParams: water.PlatformSpecificParams{Name: cfg.Name},
	})
	if err != nil {
		return nil, createError(cfg.Name, err)
	}
	file, ok := ifce.ReadWriteCloser.(*os.File)
	if !ok { // water's Linux implementation always gives an *os.File
		ifce.Close()
		return nil, fmt.Errorf("tap: create %s: unexpected device type %T", cfg.Name, ifce.ReadWriteCloser)
	}
	d := &Device{name: ifce.Name(), mac: cfg.MAC, mtu: cfg.MTU, addrs: cfg.Addrs, file: file}
	if err := d.configure(cfg); err != nil {
		d.Close()
		return nil, err
	}
	cfg.Logger.Debug("tap device up", "component", "tap", "name", d.name, "mac", d.mac.String(),
		"mtu", d.mtu, "addrs", fmt.Sprint(d.addrs))
	return d, nil
}

func (d *Device) configure(cfg Config) error {
	link, err := netlink.LinkByName(d.name)
	if err != nil {
		return sysError("find created device "+d.name, err)
	}
	if err := netlink.LinkSetHardwareAddr(link, cfg.MAC); err != nil {
		return sysError(fmt.Sprintf("set MAC %s on %s", cfg.MAC, d.name), err)
	}
	if err := netlink.LinkSetMTU(link, cfg.MTU); err != nil {
		return sysError(fmt.Sprintf("set MTU %d on %s", cfg.MTU, d.name), err)
	}
	for _, p := range cfg.Addrs {
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipnet}); err != nil {
			if errors.Is(err, syscall.EEXIST) {
				return &TakenError{What: "address", Value: p.String(), Err: ErrAddrTaken}
			}
			return sysError(fmt.Sprintf("add address %s to %s", p, d.name), err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return sysError("set "+d.name+" up", err)
	}
	return nil
}

func (d *Device) close() error {
	if d.file == nil {
		return nil
	}
	// The device is not persistent: closing its only queue unregisters it.
	if err := d.file.Close(); err != nil {
		return fmt.Errorf("tap: close %s: %w", d.name, err)
	}
	return nil
}

// hasNetAdmin reports whether the calling thread holds CAP_NET_ADMIN in its
// effective set. Checking first spares a doomed open of /dev/net/tun.
func hasNetAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return true // cannot tell: let the kernel decide
	}
	return data[0].Effective&(1<<unix.CAP_NET_ADMIN) != 0
}

// checkFree refuses a name or an address that an interface of this network
// namespace already has.
func checkFree(cfg Config) error {
	if !hasVerb(cfg.Name) {
		if l, err := netlink.LinkByName(cfg.Name); err == nil {
			return &TakenError{What: "name", Value: cfg.Name, By: l.Attrs().Name, Err: ErrNameTaken}
		}
	}
	if len(cfg.Addrs) == 0 {
		return nil
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return sysError("list addresses", err)
	}
	for _, p := range cfg.Addrs {
		for _, a := range addrs {
			if a.IP.Equal(p.Addr().AsSlice()) {
				by := ""
				if l, err := netlink.LinkByIndex(a.LinkIndex); err == nil {
					by = l.Attrs().Name
				}
				return &TakenError{What: "address", Value: p.Addr().String(), By: by, Err: ErrAddrTaken}
			}
		}
	}
	return nil
}

func hasVerb(name string) bool {
	for i := 0; i+1 < len(name); i++ {
		if name[i] == '%' {
			return true
		}
	}
	return false
}

// createError classifies an error from opening /dev/net/tun or TUNSETIFF.
// water returns the open error bare and the ioctl's as an *os.SyscallError.
func createError(name string, err error) error {
	doing := "create " + name
	if _, ok := err.(*os.SyscallError); !ok {
		doing = "open /dev/net/tun"
	}
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO):
		return fmt.Errorf("%w: %v", ErrNoTUN, err)
	case errors.Is(err, syscall.EBUSY), errors.Is(err, syscall.EEXIST):
		return &TakenError{What: "name", Value: name, Err: ErrNameTaken}
	case errors.Is(err, syscall.EINVAL):
		// TUNSETIFF refuses a name held by a device of another kind.
		if l, lerr := netlink.LinkByName(name); lerr == nil {
			return &TakenError{What: "name", Value: name, By: l.Attrs().Name, Err: ErrNameTaken}
		}
	}
	return sysError(doing, err)
}

// sysError wraps a system call error, classifying a permission refusal.
func sysError(doing string, err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w: %s: %v", ErrPermission, doing, err)
	}
	return fmt.Errorf("tap: %s: %w", doing, err)
}
