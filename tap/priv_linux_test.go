//go:build linux

package tap_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/reachd/reachd/tap"
	"golang.org/x/sys/unix"
)

// The error cases that need a process with fewer rights or another view of
// /dev run the test binary again as a helper (TestHelperProcess), which
// reports the error tap.New gave it.
const helperEnv = "REACHD_TAP_HELPER"

// TestNewWithoutPermission: without CAP_NET_ADMIN, New fails with
// ErrPermission, both as an unprivileged user and as root whose bounding
// set lacks the capability.
func TestNewWithoutPermission(t *testing.T) {
	requireTAP(t)
	t.Run("user nobody", func(t *testing.T) {
		cmd := helper(t, "nobody")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNET}
		runHelper(t, cmd, "permission denied")
	})
	t.Run("root without CAP_NET_ADMIN", func(t *testing.T) {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("needs setpriv (util-linux) to drop CAP_NET_ADMIN")
			}
			t.Skip("needs setpriv (util-linux) to drop CAP_NET_ADMIN")
		}
		cmd := helper(t, "nocap")
		cmd.Args = append([]string{setpriv, "--inh-caps=-net_admin", "--bounding-set=-net_admin", cmd.Path}, cmd.Args[1:]...)
		cmd.Path = setpriv
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNET}
		runHelper(t, cmd, "permission denied")
	})
}

// TestNewWithCapNetAdmin: the check is for the capability, not for root: an
// unprivileged user holding CAP_NET_ADMIN (as an ambient capability, the
// way a systemd unit grants it) creates a device when it may open
// /dev/net/tun (mode 0666, the usual); when the device file is 0600 the
// error is ErrPermission and names /dev/net/tun. The helper first mounts
// its own /dev/net/tun of that mode in a private mount namespace, then runs
// itself as nobody with CAP_NET_ADMIN.
func TestNewWithCapNetAdmin(t *testing.T) {
	requireTAP(t)
	// The helper runs as nobody: it needs a copy of the test binary it may
	// execute.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // t.TempDir makes both 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "tap.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ mode, says string }{
		{"0666", "created reachhelper0 as uid 65534"},
		{"0600", "open /dev/net/tun: permission denied"},
	} {
		t.Run("tun mode "+tt.mode, func(t *testing.T) {
			cmd := helper(t, "tunnode")
			cmd.Env = append(cmd.Env, "REACHD_TAP_TUN_MODE="+tt.mode)
			cmd.Path, cmd.Args[0], cmd.Dir = exe, exe, dir
			cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET}
			runHelper(t, cmd, tt.says)
		})
	}
}

// TestNewWithoutTUN: with no /dev/net/tun (an empty tmpfs mounted over
// /dev/net in a private mount namespace), New fails with ErrNoTUN.
func TestNewWithoutTUN(t *testing.T) {
	requireTAP(t)
	cmd := helper(t, "notun")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET}
	runHelper(t, cmd, "/dev/net/tun is not available")
}

func helper(t *testing.T, mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

func runHelper(t *testing.T, cmd *exec.Cmd, says string) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %v: %v\n%s", cmd.Args, err, out)
	}
	if !strings.Contains(string(out), says) {
		t.Fatalf("helper output lacks %q:\n%s", says, out)
	}
	t.Logf("helper: %s", strings.SplitN(string(out), "\n", 2)[0])
}

// TestHelperProcess is not a test: it is the helper the tests above start.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	var want error
	switch mode {
	case "nobody":
		want = tap.ErrPermission
		if err := syscall.Setgroups(nil); err != nil {
			helperExit(fmt.Errorf("setgroups: %w", err))
		}
		if err := syscall.Setgid(65534); err != nil {
			helperExit(fmt.Errorf("setgid: %w", err))
		}
		if err := syscall.Setuid(65534); err != nil {
			helperExit(fmt.Errorf("setuid: %w", err))
		}
	case "nocap":
		want = tap.ErrPermission
	case "tunnode": // root, in its own mount and network namespaces
		mode, err := strconv.ParseUint(os.Getenv("REACHD_TAP_TUN_MODE"), 8, 32)
		if err != nil {
			helperExit(err)
		}
		if err := syscall.Mount("tmpfs", "/dev/net", "tmpfs", 0, "size=16k,mode=0755"); err != nil {
			helperExit(fmt.Errorf("mount tmpfs on /dev/net: %w", err))
		}
		if err := syscall.Mknod("/dev/net/tun", syscall.S_IFCHR|uint32(mode), int(unix.Mkdev(10, 200))); err != nil {
			helperExit(fmt.Errorf("mknod /dev/net/tun: %w", err))
		}
		if err := os.Chmod("/dev/net/tun", os.FileMode(mode)); err != nil { // past the umask
			helperExit(err)
		}
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), helperEnv+"=capnetadmin")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
			AmbientCaps: []uintptr{unix.CAP_NET_ADMIN},
		}
		if err := cmd.Run(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	case "capnetadmin": // nobody with CAP_NET_ADMIN
		dev, err := tap.New(tap.Config{Name: "reachhelper0", Addrs: []netip.Prefix{netip.MustParsePrefix("10.99.13.1/24")}})
		if err != nil {
			if !errors.Is(err, tap.ErrPermission) {
				helperExit(fmt.Errorf("tap.New as uid %d with CAP_NET_ADMIN: %w", os.Getuid(), err))
			}
			fmt.Println(err) // the 0600 case: the parent checks the message
			os.Exit(0)
		}
		fmt.Printf("created %s as uid %d\n", dev.Name(), os.Getuid())
		dev.Close()
		os.Exit(0)
	case "notun":
		want = tap.ErrNoTUN
		if err := syscall.Mount("tmpfs", "/dev/net", "tmpfs", 0, "size=16k"); err != nil {
			helperExit(fmt.Errorf("mount tmpfs on /dev/net: %w", err))
		}
	default:
		helperExit(fmt.Errorf("unknown helper mode %q", mode))
	}
	dev, err := tap.New(tap.Config{Name: "reachhelper0"})
	if err == nil {
		dev.Close()
		helperExit(errors.New("tap.New succeeded"))
	}
	if !errors.Is(err, want) {
		helperExit(fmt.Errorf("tap.New: %v, want errors.Is %v", err, want))
	}
	fmt.Println(err)
	os.Exit(0)
}

func helperExit(err error) {
	fmt.Println("helper failed:", err)
	os.Exit(1)
}
