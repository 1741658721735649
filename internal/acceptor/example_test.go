package acceptor_test

import (
	"log"
	"log/slog"
	"net"
	"net/http"

	"github.com/reachd/reachd/internal/acceptor"
)

// An HTTP server whose accept loop waits out a full file table instead of
// spinning: Serve never sees the failures. http.Server.Close closes the
// Listener, which ends a paused Accept at once.
func ExampleNew() {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	ln := acceptor.New(raw, acceptor.Config{Logger: slog.Default().With("component", "api")})
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	srv.Close()
}
