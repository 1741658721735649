package signaling

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/reachd/reachd/identity"
)

// Broker sign-in. A node presents its node key to every broker: the MQTT
// user name is its node ID and the password is
//
//	reachd1 <unix seconds> <broker host:port> <signature>
//
// the signature being Ed25519 (base64url, unpadded) by the node key over
// loginContext, the node ID, the address and the time, one per line. The
// address is the broker's host and port as the node dialled them (the
// broker URL's, see BrokerAddr), so a password given to one broker opens no
// other; the time lets a broker refuse an old password (MaxLoginSkew). A
// broker that does not check passwords (mosquitto with allow_anonymous, a
// public broker) ignores them. rendezvous checks them.

// loginVersion starts every password.
const loginVersion = "reachd1"

// loginContext separates login signatures from every other signature the
// node key makes.
const loginContext = "reachd broker login v1"

// MaxLoginSkew is how far from the broker's clock a login's time may be,
// either way, by default.
const MaxLoginSkew = 5 * time.Minute

// ErrBadLogin is wrapped by every error of ParseLogin and Login.Verify.
var ErrBadLogin = errors.New("signaling: bad broker login")

// Login is a node's broker sign-in, as parsed from the MQTT user name and
// password.
type Login struct {
	NodeID string
	Addr   string // the broker's host:port as the node dialled it, normalized
	Time   time.Time
	sig    []byte
}

// LoginPassword returns the password id presents to the broker at addr (a
// host:port, normalized by NormalizeAddr) at time now.
func LoginPassword(id *identity.Identity, addr string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := id.Sign(loginMessage(id.NodeID(), addr, ts))
	return loginVersion + " " + ts + " " + addr + " " + base64.RawURLEncoding.EncodeToString(sig)
}

func loginMessage(nodeID, addr, ts string) []byte {
	return []byte(loginContext + "\n" + nodeID + "\n" + addr + "\n" + ts)
}

// ParseLogin reads a login from an MQTT user name and password. It checks
// the syntax only: Verify checks the time and the signature.
func ParseLogin(user string, password []byte) (Login, error) {
	bad := func(format string, args ...any) (Login, error) {
		return Login{}, fmt.Errorf("%w: "+format, append([]any{ErrBadLogin}, args...)...)
	}
	if err := identity.ValidNodeID(user); err != nil {
		return bad("user name is not a node ID: %v", err)
	}
	f := strings.Split(string(password), " ")
	if len(f) != 4 || f[0] != loginVersion {
		return bad("password is not a %s login", loginVersion)
	}
	sec, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || sec < 0 || strconv.FormatInt(sec, 10) != f[1] {
		return bad("time %q", f[1])
	}
	addr, err := NormalizeAddr(f[2])
	if err != nil || addr != f[2] {
		return bad("address %q is not a normalized host:port", f[2])
	}
	sig, err := base64.RawURLEncoding.DecodeString(f[3])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return bad("signature is not %d bytes of base64url", ed25519.SignatureSize)
	}
	return Login{NodeID: user, Addr: addr, Time: time.Unix(sec, 0), sig: sig}, nil
}

// Verify checks that l was made within skew of now and signed by its node.
func (l Login) Verify(now time.Time, skew time.Duration) error {
	if d := now.Sub(l.Time); d > skew || d < -skew {
		return fmt.Errorf("%w: time %s is %v from ours (at most %v)", ErrBadLogin, l.Time.UTC().Format(time.RFC3339), d.Round(time.Second), skew)
	}
	ts := strconv.FormatInt(l.Time.Unix(), 10)
	if !identity.Verify(l.NodeID, loginMessage(l.NodeID, l.Addr, ts), l.sig) {
		return fmt.Errorf("%w: signature does not verify", ErrBadLogin)
	}
	return nil
}

// NormalizeAddr returns host:port with the host in lowercase and an IP
// literal in its canonical form (IPv4-mapped IPv6 as IPv4), as logins
// carry it.
func NormalizeAddr(hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", fmt.Errorf("port %q", port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	} else {
		host = strings.ToLower(host)
	}
	if host == "" || strings.ContainsAny(host, " \n") {
		return "", fmt.Errorf("host %q", host)
	}
	return net.JoinHostPort(host, port), nil
}

// BrokerAddr is the address a node signs its login to the broker at
// rawURL for: the URL's host and port (the scheme's default port when it
// has none), normalized.
func BrokerAddr(rawURL string) (string, error) {
	u, err := pahoURL(rawURL)
	if err != nil {
		return "", err
	}
	addr, err := NormalizeAddr(u.Host)
	if err != nil {
		return "", fmt.Errorf("signaling: broker %q: %w", rawURL, err)
	}
	return addr, nil
}
