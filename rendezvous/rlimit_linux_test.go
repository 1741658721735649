package rendezvous_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/reachd/reachd/internal/acceptor/acceptortest"
	"github.com/reachd/reachd/rendezvous"
)

const rlimitChildEnv = "RENDEZVOUS_RLIMIT_CHILD"

// The full-file-table attack on the rendezvous: connections arrive while the
// process has no descriptor left, so every accept fails with EMFILE. Before,
// the STUN listener logged a warning every 50ms and the others one per
// failed retry. Now each listener logs about once a second and every service
// answers once descriptors are free again. The server runs in a child process
// whose RLIMIT_NOFILE is lowered and filled; this process dials it.
func TestAcceptEMFILEFloodRendezvous(t *testing.T) {
	if acceptortest.IsChild(rlimitChildEnv) {
		rendezvousRlimitChild()
		return
	}
	child := acceptortest.StartChild(t, "TestAcceptEMFILEFloodRendezvous", rlimitChildEnv)
	var mqttAddr, stunAddr, turnAddr string
	child.Scan("FULL ", &mqttAddr, &stunAddr, &turnAddr)

	// Each connection completes in the child's backlog; its request waits.
	dial := func(addr string, req []byte) net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		return c
	}
	connect := []byte{0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 'x'}
	mqttConn := dial(mqttAddr, connect)
	stunReq := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	stunConn := dial(stunAddr, stunReq.Raw)
	turnReq := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	turnConn := dial(turnAddr, turnReq.Raw)
	child.Send("DIALED")

	// The child frees descriptors after 1.5s; then every service answers.
	deadline := time.Now().Add(30 * time.Second)
	ack := make([]byte, 4)
	mqttConn.SetReadDeadline(deadline)
	if _, err := io.ReadFull(mqttConn, ack); err != nil || ack[0] != 0x20 {
		t.Errorf("mqtt: %x, %v; want a CONNACK", ack, err)
	}
	for name, c := range map[string]net.Conn{"stun": stunConn, "turn": turnConn} {
		c.SetReadDeadline(deadline)
		buf := make([]byte, 20)
		if _, err := io.ReadFull(c, buf); err != nil || buf[0] != 0x01 || buf[1] != 0x01 {
			t.Errorf("%s: %x, %v; want a Binding success", name, buf, err)
		}
	}
	child.Send("DONE")
	var logLines int
	child.Scan("LINES ", &logLines)
	child.Wait()
	t.Logf("%d accept log lines over 1.5s of EMFILE on 3 listeners", logLines)
	if logLines > 3*3 {
		t.Errorf("%d accept log lines, want at most 3 per listener:\n%s", logLines, child.Stderr())
	}
	if logLines < 3 {
		t.Errorf("%d accept log lines: did accept fail at all?\n%s", logLines, child.Stderr())
	}
}

func rendezvousRlimitChild() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	logw := &acceptortest.LineCounter{W: os.Stderr, Substr: "accept"}
	s, err := rendezvous.New(rendezvous.Config{
		MQTTListen: "127.0.0.1:0",
		STUNListen: []string{"127.0.0.1:0"},
		TURNListen: "127.0.0.1:0",
		Logger:     slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		fail(err)
	}
	defer s.Close()
	in := bufio.NewScanner(os.Stdin)

	release, err := acceptortest.FillFileTable(128)
	if err != nil {
		fail(err)
	}
	fmt.Printf("FULL %s %s %s\n", s.MQTTAddr(), s.STUNAddrs()[0], s.TURNAddr())
	in.Scan()                           // DIALED
	time.Sleep(1500 * time.Millisecond) // the attack lasts this long
	release()
	in.Scan() // DONE
	fmt.Printf("LINES %d\n", logw.Count())
}
