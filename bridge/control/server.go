package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// shutdownGrace bounds how long Serve waits for in-flight requests once its
// ctx is done; a status request takes microseconds, so anything still open
// after this is a stuck client that must not delay the bridge's exit.
const shutdownGrace = 2 * time.Second

// Handler serves GET StatusPath with src() encoded as JSON. src is called
// once per request, so every answer is current.
func Handler(src func() Status, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	// The method in the pattern makes the mux answer 405 for anything but
	// GET/HEAD and 404 for any other path.
	mux.HandleFunc("GET "+StatusPath, func(w http.ResponseWriter, r *http.Request) {
		b, err := json.MarshalIndent(src(), "", "  ")
		if err != nil {
			logger.Error("control: encode status", "err", err)
			http.Error(w, "cannot encode status", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(b, '\n'))
	})
	return mux
}

// Serve answers status requests on ln until ctx is done, then closes ln
// (which, for a listener from Listen, removes the socket file) and returns
// nil. It returns an error only if serving fails on its own.
func Serve(ctx context.Context, ln net.Listener, src func() Status, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           Handler(src, logger),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
		// net/http's own complaints (bad requests, TLS probes) are noise
		// at info level.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("control: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Shutdown gave up on slow connections; cut them.
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("control: serve %s: %w", ln.Addr(), err)
	}
	return nil
}
