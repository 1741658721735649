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
// ways. When the client closes the WebSocket our side of the stream ends
// (the peer reads EOF); when the peer's stream ends the WebSocket is closed
// normally.
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		for {
			typ, b, err := ws.Read(ctx)
			if err != nil {
				if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
					c.CloseWrite()
				}
				return
			}
			if typ != websocket.MessageBinary {
				ws.Close(websocket.StatusUnsupportedData, "send binary messages")
				return
			}
			if _, err := c.Write(b); err != nil {
				ws.Close(websocket.StatusGoingAway, "connection closed")
				return
			}
		}
	}()
	for {
		b, err := c.Read(ctx, 64<<10)
		if errors.Is(err, io.EOF) {
			ws.Close(websocket.StatusNormalClosure, "peer finished")
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
	<-done
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
