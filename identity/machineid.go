package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
)

// machineIDFiles are read in order; the first non-empty one wins.
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// MachineID returns a stable, non-reversible ID of this host: 16 lowercase
// hex characters of SHA-256("reachd machine id\x00" + OS machine ID). The OS
// machine ID is /etc/machine-id, else /var/lib/dbus/machine-id, else the
// host name.
func MachineID() string {
	return machineID(os.ReadFile, os.Hostname)
}

func machineID(readFile func(string) ([]byte, error), hostname func() (string, error)) string {
	raw := ""
	for _, p := range machineIDFiles {
		b, err := readFile(p)
		if err != nil {
			continue
		}
		// "uninitialized" is what systemd writes before first boot completes.
		if s := strings.TrimSpace(string(b)); s != "" && s != "uninitialized" {
			raw = s
			break
		}
	}
	if raw == "" {
		raw, _ = hostname()
	}
	sum := sha256.Sum256([]byte("reachd machine id\x00" + raw))
	return hex.EncodeToString(sum[:8])
}
