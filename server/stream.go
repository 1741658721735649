package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/coder/websocket"

	"github.com/reachd/reachd/node"
)

// stream bridges the connection and a WebSocket: binary messages both
// ways. An empty binary message ends one direction, like a TCP half-close:
// from the client it ends our side of the stream (the peer reads EOF, and
// what the peer sends still arrives); to the client it says the peer's
// stream has ended. Once both directions have ended the server closes the
// WebSocket normally. A client that closes the WebSocket (normally) also
// ends our side of the stream.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) error {
	c, err := s.conn(r)
	if err != nil {
		return err
	}
	if c.State() == node.StateClosed {
		return gone(c, "closed")
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

	// The client's direction: WebSocket -> connection.
	clientDone := make(chan struct{}) // the client ended its direction
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
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
			typ, b, err := ws.Read(ctx)
			if err != nil {
				if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
					end()
				}
				cancel()
				return
			}
			switch {
			case typ != websocket.MessageBinary:
				ws.Close(websocket.StatusUnsupportedData, "send binary messages")
				cancel()
				return
			case len(b) == 0:
				end()
			case ended:
				ws.Close(websocket.StatusPolicyViolation, "data after the end of the stream")
				cancel()
				return
			default:
				if _, err := c.Write(b); err != nil {
					ws.Close(websocket.StatusGoingAway, "connection closed")
					cancel()
					return
				}
			}
		}
	}()

	// The peer's direction: connection -> WebSocket.
	for {
		b, err := c.Read(ctx, 64<<10)
		if errors.Is(err, io.EOF) {
			if ws.Write(ctx, websocket.MessageBinary, nil) != nil {
				break
			}
			select {
			case <-clientDone:
				ws.Close(websocket.StatusNormalClosure, "both sides finished")
			case <-c.Done():
				ws.Close(websocket.StatusNormalClosure, "connection closed")
			case <-ctx.Done():
			}
			break
		}
		if err != nil {
			ws.CloseNow()
			break
		}
		if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
			break
		}
	}
	cancel()
	<-readerDone
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
