//go:build linux

package tap

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestCreateErrorMapping: what the kernel answers when creating a device
// (open /dev/net/tun, TUNSETIFF, netlink) becomes the package's sentinels,
// also when the checks made before did not catch it (a race, or a user
// namespace).
func TestCreateErrorMapping(t *testing.T) {
	tests := []struct {
		err  error
		want error
	}{
		{syscall.ENOENT, ErrNoTUN},
		{syscall.ENODEV, ErrNoTUN},
		{os.NewSyscallError("ioctl", syscall.EPERM), ErrPermission},
		{syscall.EACCES, ErrPermission},
		{os.NewSyscallError("ioctl", syscall.EBUSY), ErrNameTaken},
	}
	for _, tt := range tests {
		if got := createError("reach9", tt.err); !errors.Is(got, tt.want) {
			t.Errorf("createError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if got := sysError("add address", syscall.EPERM); !errors.Is(got, ErrPermission) {
		t.Errorf("sysError(EPERM) = %v", got)
	}
	if got := sysError("add address", syscall.EINVAL); errors.Is(got, ErrPermission) || !errors.Is(got, syscall.EINVAL) {
		t.Errorf("sysError(EINVAL) = %v", got)
	}
}
