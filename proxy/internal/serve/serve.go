// Package serve holds what the eepproxy and the outproxy server share:
// running an http.Server under the tunnel lifecycle (Run), net.Conn
// wrappers that keep half-close working (PrefixConn, CountingConn), and
// the server-tunnel chores (opening the session, writing <name>.b32).
package serve

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
	"i2pbridge/router/data"
)

// Options tune Run.
type Options struct {
	Logger *slog.Logger // nil = discard; net/http's own messages go here at debug
	// Counters receive Conns and TotalConns (one per accepted
	// connection, counted until it is closed, hijacked or not).
	Counters *relay.Counters
	// ReadHeaderTimeout bounds the wait for a request's header; 0 means
	// a minute.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long; 0 means
	// two minutes.
	IdleTimeout time.Duration
	// OnConnState, if set, is the server's ConnState hook.
	OnConnState func(net.Conn, http.ConnState)
}

// Run serves h on ln until ctx ends (then it returns nil) or ln fails
// (then the error). When it returns, ln and every connection it accepted
// are closed (hijacked ones included: handlers must end them when their
// request's context ends, which Run cancels) and every handler has
// returned.
func Run(ctx context.Context, ln net.Listener, h http.Handler, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	connCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := &tracker{}
	srv := &http.Server{
		Handler:           t.wrap(h),
		ReadHeaderTimeout: orDefault(opts.ReadHeaderTimeout, time.Minute),
		IdleTimeout:       orDefault(opts.IdleTimeout, 2*time.Minute),
		BaseContext:       func(net.Listener) context.Context { return connCtx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ConnState:         opts.OnConnState,
	}
	cl := &countingListener{Listener: ln, counters: opts.Counters}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()

	err := srv.Serve(cl)
	if ctx.Err() == nil {
		// The listener failed (or its owner closed it to restart the
		// tunnel): let requests in flight finish their answers, such
		// as the error page that explains the failure, for a moment.
		sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
		srv.Shutdown(sctx)
		scancel()
	}
	// Whatever ended Serve, end everything it started: requests see their
	// context cancelled, idle and active connections are closed, and
	// Close stops new handlers from starting.
	cancel()
	srv.Close()
	t.closeAndWait()
	if errors.Is(err, http.ErrServerClosed) || ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}

// shutdownGrace is how long requests in flight may take to finish when
// the listener fails.
const shutdownGrace = 2 * time.Second

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// tracker counts running handlers so Run can wait for them. A handler
// that starts after closeAndWait began is answered 503 at once (the
// server is going away), which keeps the WaitGroup rule (no Add from zero
// during Wait) intact.
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (t *tracker) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			w.Header().Set("Connection", "close")
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		t.wg.Add(1)
		t.mu.Unlock()
		defer t.wg.Done()
		h.ServeHTTP(w, r)
	})
}

func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// countingListener counts accepted connections in Counters until each is
// closed (by the server or, for hijacked ones, by their handler).
type countingListener struct {
	net.Listener
	counters *relay.Counters
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.counters == nil {
		return c, err
	}
	l.counters.Conns.Add(1)
	l.counters.TotalConns.Add(1)
	return &closeCounted{Conn: c, counters: l.counters}, nil
}

// closeCounted decrements Conns once, on the first Close.
type closeCounted struct {
	net.Conn
	counters *relay.Counters
	closed   atomic.Bool
}

func (c *closeCounted) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.counters.Conns.Add(-1)
	}
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when the underlying one can.
func (c *closeCounted) CloseWrite() error { return closeWrite(c.Conn) }

type closeWriter interface{ CloseWrite() error }

func closeWrite(c net.Conn) error {
	if cw, ok := c.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return nil
}

// PrefixConn is a net.Conn whose reads come from R (bytes a parser
// already consumed, then the rest of the connection) while writes, close
// and half-close go to the Conn.
type PrefixConn struct {
	net.Conn
	R io.Reader
}

// Read reads from R.
func (c *PrefixConn) Read(b []byte) (int, error) { return c.R.Read(b) }

// CloseWrite half-closes the underlying connection if it supports that, so
// relays keep signalling end-of-request through the wrapper.
func (c *PrefixConn) CloseWrite() error { return closeWrite(c.Conn) }

// Hijacked returns a hijacked connection with the bytes the server had
// already buffered (sent by the client right behind its request) put back
// in front. Reading must not continue through rw.Reader itself: net/http's
// reader behind it cancels the request's context on any read error, so a
// client's half-close or a read deadline would end the whole tunnel.
func Hijacked(c net.Conn, rw *bufio.ReadWriter) net.Conn {
	n := rw.Reader.Buffered()
	if n == 0 {
		return c
	}
	b, _ := rw.Reader.Peek(n)
	return &PrefixConn{Conn: c, R: io.MultiReader(bytes.NewReader(bytes.Clone(b)), c)}
}

// CountingConn adds the bytes read to In and the bytes written to Out.
type CountingConn struct {
	net.Conn
	In, Out *atomic.Uint64
}

// Read reads and counts.
func (c *CountingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.In.Add(uint64(n))
	return n, err
}

// Write writes and counts.
func (c *CountingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.Out.Add(uint64(n))
	return n, err
}

// CloseWrite half-closes the underlying connection if it supports that.
func (c *CountingConn) CloseWrite() error { return closeWrite(c.Conn) }

// OpenSession loads or creates t's keys (transient when t.Keys is "") and
// opens its destination.
func OpenSession(ctx context.Context, n i2pnet.Network, t config.Tunnel, rand io.Reader, log *slog.Logger) (i2pnet.Session, error) {
	sc := i2pnet.SessionConfig{Name: t.Name, Options: t.I2CPOptions()}
	if t.Keys != "" {
		k, created, err := data.LoadOrCreatePrivateKeyFile(t.Keys, rand)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		if created {
			log.Info("created keys file", "path", t.Keys)
		}
		sc.Keys = &k
	}
	s, err := n.Open(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	return s, nil
}

// WriteB32 replaces <dir>/<name>.b32 with the b32 address and a newline,
// atomically (temp file + rename), so scripts never read half a line. An
// empty dir writes nothing.
func WriteB32(dir, name, b32 string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write b32 file: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+name+".b32.*")
	if err != nil {
		return fmt.Errorf("write b32 file: %w", err)
	}
	tmp := f.Name()
	_, err = f.WriteString(b32 + "\n")
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name+".b32"))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write b32 file: %w", err)
	}
	return nil
}
