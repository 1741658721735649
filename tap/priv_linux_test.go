//go:build linux

package tap_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/reachd/reachd/tap"
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
