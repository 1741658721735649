package server

import (
	"net/http"

	"github.com/reachd/reachd/node"
)

// HEAD: every GET route answers HEAD with the status and headers of its
// GET and no body (chi's GetHead routes it to the GET handler; net/http
// drops the body). Two GET routes would do the wrong thing that way and
// take care of HEAD themselves: events ends its answer after the headers
// instead of streaming, and recv has a HEAD route of its own, because its
// GET takes the data it answers with.

// recvHead answers HEAD on recv without taking data: the checks of GET
// (connection, parameters), then 200 while the connection is open, or 410
// once it is closed. Whether data is waiting, and how much, only a GET can
// tell, so there is no Content-Length (RFC 9110, section 9.3.2).
func (s *Server) recvHead(w http.ResponseWriter, r *http.Request) error {
	c, err := s.conn(r)
	if err != nil {
		return err
	}
	if _, err := intParam(r, "max", defaultRecvMax, 1, maxRecvMax); err != nil {
		return err
	}
	if _, err := intParam(r, "timeout_ms", int(defaultRecvTimeout.Milliseconds()), 0, int(maxRecvTimeout.Milliseconds())); err != nil {
		return err
	}
	if c.State() == node.StateClosed {
		return gone(c, "closed")
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	return nil
}
