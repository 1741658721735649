package node

import (
	"bytes"
	"sync"

	"github.com/reachd/reachd/natprobe"
	"github.com/reachd/reachd/node/internal/handshake"
	"github.com/reachd/reachd/strategy"
)

// reachCheck prepares the dial-back checks of one probe (see
// natprobe.DialBack): the servers that offer dial-back connect to our
// listen port and send a preamble naming a fresh session that only this
// node expects, from our own node ID. Our listener answers it with
// handshake.AnswerOK and hands the connection here, where it is closed; any other
// listener (another reachd behind the same NAT, whose port the
// connection reached instead of ours) answers otherwise, so only our own
// answer counts as reachable. done ends the expectation.
func (n *Node) reachCheck() (db natprobe.DialBack, done func()) {
	s := strategy.NewTicket()
	var b bytes.Buffer
	handshake.WritePreamble(&b, handshake.Preamble{Ticket: s, From: n.id.NodeID()})
	data := b.Bytes()
	ch, forget := env{n}.Expect(s, n.id.NodeID())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case c := <-ch:
				c.Close()
			case <-stop:
				return
			}
		}
	})
	db = natprobe.DialBack{
		Port:   n.port,
		Data:   func() []byte { return data },
		Accept: func(answer []byte) bool { return len(answer) > 0 && handshake.Answer(answer[0]) == handshake.AnswerOK },
	}
	return db, func() {
		forget()
		close(stop)
		wg.Wait()
	}
}
