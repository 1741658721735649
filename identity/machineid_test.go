package identity

import (
	"errors"
	"io/fs"
	"regexp"
	"testing"
)

func TestMachineID(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			s, ok := m[p]
			if !ok {
				return nil, fs.ErrNotExist
			}
			return []byte(s), nil
		}
	}
	host := func() (string, error) { return "myhost", nil }
	noHost := func() (string, error) { return "", errors.New("no host name") }
	const (
		etc  = "/etc/machine-id"
		dbus = "/var/lib/dbus/machine-id"
	)
	// SHA-256("reachd machine id\x00" + raw), first 8 bytes:
	//   printf 'reachd machine id\0%s' RAW | sha256sum | cut -c1-16
	tests := []struct {
		name  string
		files map[string]string
		host  func() (string, error)
		want  string
	}{
		{"etc", map[string]string{etc: "4c4c4544003957108052b4c04f4e3332\n", dbus: "other"}, host, "ee5ab5a1d45f0636"},
		{"dbus fallback", map[string]string{dbus: "4c4c4544003957108052b4c04f4e3332"}, host, "ee5ab5a1d45f0636"},
		{"empty etc falls back", map[string]string{etc: "\n", dbus: "4c4c4544003957108052b4c04f4e3332"}, host, "ee5ab5a1d45f0636"},
		{"uninitialized falls back", map[string]string{etc: "uninitialized\n"}, host, "4a10eeef29750284"},
		{"hostname fallback", nil, host, "4a10eeef29750284"},
		{"nothing at all", nil, noHost, "b0e8c74f434cad4a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := machineID(files(tt.files), tt.host); got != tt.want {
				t.Fatalf("machineID = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMachineIDStable(t *testing.T) {
	a, b := MachineID(), MachineID()
	if a != b || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(a) {
		t.Fatalf("MachineID() = %q then %q, want the same 16 lowercase hex chars", a, b)
	}
}
