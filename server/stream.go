package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/node"
)

// stream bridges the connection and a WebSocket: binary messages both
// ways. An empty binary message ends one direction, like a TCP half-close:
// from the client it ends our side of the stream (the peer reads EOF, and
// what the peer sends still arrives); to the client it says the peer's
// stream has ended. Once both directions have ended the server closes the
// WebSocket normally (1000). A client that closes the WebSocket (normally)
// also ends our side of the stream. A connection that is aborted closes
// the WebSocket with StatusAborted and the reason; one closed on this side
// (DELETE) with 1001.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) error {
	c, release, err := s.dataConn(r, true, true)
	if err != nil {
		return err
	}
	defer release()
	if c.State() == node.StateClosed {
		what := "closed"
		if reason := c.Info().CloseReason; reason != "" {
			what += " (" + reason + ")" // a peer's abort says why: "no such service"
		}
		return gone(c, what)
	}
	if !hasToken(r.Header, "Connection", "upgrade") || !hasToken(r.Header, "Upgrade", "websocket") {
		// Answered here rather than by websocket.Accept, whose error is plain text.
		w.Header().Set("Upgrade", "websocket")
		return problemf(http.StatusUpgradeRequired, "this route is a WebSocket: open it with Connection: Upgrade and Upgrade: websocket")
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.CORSOrigins})
	if err != nil {
		return nil // Accept has answered the client
	}
	ws.SetReadLimit(1 << 20)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)() // the server is closing
	// coder/websocket arms a timer for every frame read or written under
	// a context that can end; the WebSocket's operations get one that
	// cannot, and the WebSocket closes at once when ctx ends (as it would
	// when an operation's context ends).
	wsCtx := context.WithoutCancel(ctx)
	context.AfterFunc(ctx, func() { ws.CloseNow() })
	defer interruptWaits(ctx, c.SetWriteDeadline, c.SetReadDeadline)()

	// The client's direction: WebSocket -> connection.
	clientDone := make(chan struct{}) // the client ended its direction
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel()
		ended := false
		end := func() {
			if !ended {
				ended = true
				c.CloseWrite()
				close(clientDone)
			}
		}
		defer func() {
			if !ended {
				close(clientDone)
			}
		}()
		for {
			err := fromClient(wsCtx, ws, c, ended)
			if err == nil {
				continue
			}
			// (CloseStatus allocates: asked only once a message failed.)
			if errors.Is(err, errEndOfStream) || websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				end()
			}
			if !errors.Is(err, errEndOfStream) {
				return
			}
		}
	}()

	// The peer's direction: connection -> WebSocket.
	for {
		err := toClient(ctx, wsCtx, ws, c)
		if errors.Is(err, io.EOF) {
			if ws.Write(wsCtx, websocket.MessageBinary, nil) != nil {
				break
			}
			// Both directions are done with: another consumer may come
			// as soon as the client hears the close.
			select {
			case <-clientDone:
				release()
				ws.Close(websocket.StatusNormalClosure, "both sides finished")
			case <-c.Done():
				release()
				ws.Close(websocket.StatusNormalClosure, "connection closed")
			case <-ctx.Done():
			}
			break
		}
		if errors.Is(err, errWebSocket) {
			break
		}
		if err != nil {
			closeFor(ws, c, err)
			break
		}
	}
	cancel()
	<-readerDone
	return nil
}

// StatusAborted is the WebSocket close code of an aborted connection
// (4000, from the range for applications); the close reason says why.
const StatusAborted websocket.StatusCode = 4000

// closeFor closes the WebSocket for the connection error err: an abort
// with StatusAborted and its reason, a connection closed on this side with
// 1001, anything else at once.
func closeFor(ws *websocket.Conn, c *node.Conn, err error) {
	var ae *node.AbortError
	switch {
	case errors.As(err, &ae):
		ws.Close(StatusAborted, closeReason(c.Info().CloseReason))
	case errors.Is(err, node.ErrConnClosed):
		ws.Close(websocket.StatusGoingAway, "connection closed")
	default:
		ws.CloseNow()
	}
}

// closeReason cuts a reason to what a close frame holds (123 bytes).
func closeReason(s string) string {
	const limit = 123
	if len(s) <= limit {
		return s
	}
	s = s[:limit]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

var (
	// errEndOfStream is the client's empty message: the end of its
	// direction.
	errEndOfStream = errors.New("end of the client's stream")
	// errWebSocket is a failed WebSocket write.
	errWebSocket = errors.New("websocket write failed")
)

// fromClient copies one message from the client to the connection, as it
// arrives, in pieces of a pooled buffer taken once the message has begun.
// It returns errEndOfStream for an empty message, and the error that ends
// the client's direction otherwise, having closed the WebSocket when the
// client broke the protocol.
func fromClient(ctx context.Context, ws *websocket.Conn, c *node.Conn, ended bool) error {
	typ, r, err := ws.Reader(ctx)
	if err != nil {
		return err
	}
	if typ != websocket.MessageBinary {
		ws.Close(websocket.StatusUnsupportedData, "send binary messages")
		return errors.New("text message")
	}
	buf := framePool.Get().(*frameBuf)
	defer framePool.Put(buf)
	empty := true
	for {
		n, err := r.Read(buf[:])
		if n > 0 {
			if ended {
				ws.Close(websocket.StatusPolicyViolation, "data after the end of the stream")
				return errors.New("data after the end of the stream")
			}
			empty = false
			if _, werr := c.Write(buf[:n]); werr != nil {
				closeFor(ws, c, werr)
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if empty {
		return errEndOfStream
	}
	return nil
}

// flowWait is how long toClient waits for more bytes with a message
// buffer in hand before it lets the buffer go and waits without one (a
// variable for a test).
var flowWait = 50 * time.Millisecond

// toClient waits for bytes from the peer and sends what has arrived, up to
// frameSize, as one message from a pooled buffer. While bytes flow it
// waits for the next ones with the buffer in hand, which the connection
// fills directly (one copy less), under a read deadline rather than a
// context, which would allocate for every message; a stream quiet for
// flowWait waits without one, so an idle stream holds no buffer. It
// leaves no read deadline behind. It returns io.EOF at the end of the
// peer's stream, errWebSocket when the message could not be sent, and the
// connection's error otherwise. ctx bounds the wait (through the read
// deadline that interruptWaits sets), wsCtx the WebSocket write.
func toClient(ctx, wsCtx context.Context, ws *websocket.Conn, c *node.Conn) error {
	buf := framePool.Get().(*frameBuf)
	c.SetReadDeadline(time.Now().Add(flowWait))
	if ctx.Err() != nil {
		// Checked after the deadline is set: once ctx ends, interruptWaits
		// sets one in the past, which this one cannot then undo.
		framePool.Put(buf)
		return ctx.Err()
	}
	n, err := c.ReadInto(wsCtx, buf[:])
	c.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
		framePool.Put(buf) // quiet: wait without it
		if err := c.Wait(ctx); err != nil {
			return err
		}
		buf = framePool.Get().(*frameBuf)
		n, err = c.ReadInto(ctx, buf[:])
	}
	defer framePool.Put(buf)
	if err != nil {
		return err
	}
	if err := ws.Write(wsCtx, websocket.MessageBinary, buf[:n]); err != nil {
		return errWebSocket
	}
	return nil
}

// hasToken reports whether the comma-separated header name lists token,
// ignoring case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
