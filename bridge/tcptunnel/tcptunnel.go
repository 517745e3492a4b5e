// Package tcptunnel implements the plain TCP tunnel kinds:
//
//   - tcp-server (Server) publishes a local TCP service on I2P: it opens a
//     destination (persistent keys from Tunnel.Keys, or transient), accepts
//     streams on it that bridge/protect admits (allow/deny, limits; see
//     Tunnel.Protect) and, for each, dials Tunnel.Target over TCP (from the
//     caller's own 127.x.y.z with unique_local) and relays.
//     A target that is down costs only that stream: it is closed, logged and
//     counted, and the tunnel stays up. The destination's b32 is logged and
//     written to <datadir>/<name>.b32 so scripts can pick it up.
//   - tcp-client (Client) listens on a local TCP address and, for each
//     connection, dials Tunnel.Destination over I2P and relays. A failed dial
//     closes the local connection.
//
// Both follow the lifecycle the supervisor drives: Open acquires everything
// that can fail at start (keys, local listener, I2P session) and returns
// once the tunnel is usable; Serve accepts until its ctx ends (nil) or the
// tunnel breaks (an error, after which the supervisor Closes and later
// re-Opens it); Close releases what Open acquired. Counters are shared
// relay.Counters (a = the I2P side, so AToB is "in" from I2P).
package tcptunnel

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/protect"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
	"i2pbridge/router/data"
)

// Tunnel types handled by this package.
const (
	TypeServer = "tcp-server"
	TypeClient = "tcp-client"
)

// ErrConfig marks a tunnel definition this package cannot run.
var ErrConfig = errors.New("tcptunnel: bad tunnel config")

// targetDialTimeout bounds the TCP dial of a server tunnel's target, which
// is normally local and answers at once; an I2P peer waits meanwhile.
const targetDialTimeout = 30 * time.Second

// Config is what both kinds need.
type Config struct {
	Tunnel  config.Tunnel
	Network i2pnet.Network
	// Datadir receives <name>.b32 for server tunnels; "" skips the file.
	Datadir string
	Logger  *slog.Logger // nil = discard
	Rand    io.Reader    // key generation; nil = crypto/rand
	// Counters receive the tunnel's traffic; nil = private counters.
	Counters *relay.Counters
}

// base holds what both kinds share: config, the session and bookkeeping.
type base struct {
	cfg      Config
	log      *slog.Logger
	counters *relay.Counters

	mu      sync.Mutex
	session i2pnet.Session // set by Open, cleared by Close
	b32     string         // of the open session
}

// init checks and stores cfg (in place: base holds a mutex).
func (b *base) init(cfg Config, kind string) error {
	t := cfg.Tunnel
	if t.Type != kind {
		return fmt.Errorf("%w: type %q is not %s", ErrConfig, t.Type, kind)
	}
	if cfg.Network == nil {
		return fmt.Errorf("%w: no network", ErrConfig)
	}
	if t.Name == "" || filepath.Base(t.Name) != t.Name || t.Name == "." || t.Name == ".." {
		return fmt.Errorf("%w: name %q cannot name a file", ErrConfig, t.Name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Counters == nil {
		cfg.Counters = new(relay.Counters)
	}
	b.cfg, b.log, b.counters = cfg, cfg.Logger.With("tunnel", t.Name), cfg.Counters
	return nil
}

// openSession loads or creates the keys and opens the I2P destination.
func (b *base) openSession(ctx context.Context) (i2pnet.Session, error) {
	t := b.cfg.Tunnel
	sc := i2pnet.SessionConfig{Name: t.Name, Options: t.I2CPOptions()}
	if t.Keys != "" {
		k, created, err := data.LoadOrCreatePrivateKeyFile(t.Keys, b.cfg.Rand)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		if created {
			b.log.Info("created keys file", "path", t.Keys)
		}
		sc.Keys = &k
	}
	s, err := b.cfg.Network.Open(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	b.mu.Lock()
	b.session = s
	b.b32 = s.Addr().Dest.B32()
	b.mu.Unlock()
	return s, nil
}

func (b *base) closeSession() error {
	b.mu.Lock()
	s := b.session
	b.session = nil
	b.b32 = ""
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close()
}

// Address returns the b32 of the open destination ("" when not open).
func (b *base) Address() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b32
}

// Counters returns the tunnel's counters.
func (b *base) Counters() *relay.Counters { return b.counters }

func (b *base) relayOptions() relay.Options {
	return relay.Options{IdleTimeout: b.cfg.Tunnel.IdleTimeout.Duration(), Counters: b.counters}
}

// serve runs the accept loop shared by both kinds: every accepted conn is
// handled on its own goroutine with a ctx that ends with Serve, and serve
// returns only after all handlers did. fatal, when it returns an error,
// ends the loop as a tunnel failure (a handler saw the session die).
func (b *base) serve(ctx context.Context, ln net.Listener, handle func(ctx context.Context, c net.Conn), fatal func() error) error {
	connCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var tempDelay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if ferr := fatal(); ferr != nil {
				return ferr
			}
			if isTemporary(err) {
				// Out of file descriptors and the like: back off
				// instead of failing or spinning, as net/http does.
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				b.log.Warn("accept failed, retrying", "err", err, "in", tempDelay)
				select {
				case <-time.After(tempDelay):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("accept: %w", err)
		}
		tempDelay = 0
		b.counters.Conns.Add(1)
		b.counters.TotalConns.Add(1)
		wg.Go(func() {
			defer b.counters.Conns.Add(-1)
			handle(connCtx, c)
		})
	}
}

func isTemporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Server is a tcp-server tunnel.
type Server struct {
	base
	ln    net.Listener   // I2P listener (guarded), owned by Open/Serve/Close
	guard *protect.Guard // allow/deny, limits, unique_local (Tunnel.Protect)
}

// NewServer checks cfg; nothing is opened until Open.
func NewServer(cfg Config) (*Server, error) {
	s := new(Server)
	if err := s.init(cfg, TypeServer); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(cfg.Tunnel.Target); err != nil {
		return nil, fmt.Errorf("%w: target: %w", ErrConfig, err)
	}
	pc := protect.FromTunnel(cfg.Tunnel)
	pc.Logger = s.log
	var err error
	if s.guard, err = protect.New(pc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return s, nil
}

// Open opens the destination and its listener, logs the b32 and writes
// <datadir>/<name>.b32.
func (s *Server) Open(ctx context.Context) error {
	sess, err := s.openSession(ctx)
	if err != nil {
		return err
	}
	ln, err := sess.Listen()
	if err != nil {
		s.closeSession()
		return fmt.Errorf("listen on i2p: %w", err)
	}
	b32 := sess.Addr().Dest.B32()
	if err := s.writeB32(b32); err != nil {
		ln.Close()
		s.closeSession()
		return err
	}
	s.ln = s.guard.Listener(ln, nil) // refused streams are closed unanswered
	s.log.Info("server tunnel up", "b32", b32, "target", s.cfg.Tunnel.Target)
	return nil
}

// writeB32 replaces <datadir>/<name>.b32 atomically (temp file + rename),
// so a reader never sees a partial line.
func (s *Server) writeB32(b32 string) error {
	dir := s.cfg.Datadir
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write b32 file: %w", err)
	}
	path := filepath.Join(dir, s.cfg.Tunnel.Name+".b32")
	f, err := os.CreateTemp(dir, "."+s.cfg.Tunnel.Name+".b32.*")
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
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write b32 file: %w", err)
	}
	return nil
}

// Serve accepts streams until ctx ends (nil) or the I2P listener fails
// (the error).
func (s *Server) Serve(ctx context.Context) error {
	return s.serve(ctx, s.ln, s.handle, func() error { return nil })
}

func (s *Server) handle(ctx context.Context, stream net.Conn) {
	peer := peerOf(stream)
	d := net.Dialer{Timeout: targetDialTimeout, LocalAddr: s.guard.LocalAddr(protect.PeerOf(stream).Hash())}
	target, err := d.DialContext(ctx, "tcp", s.cfg.Tunnel.Target)
	if err != nil {
		stream.Close()
		if ctx.Err() == nil {
			// Log first: tests (and scripts) that see the count expect the line.
			s.log.Warn("target unreachable, stream closed", "target", s.cfg.Tunnel.Target, "err", err)
			s.counters.FailedConns.Add(1)
		}
		return
	}
	st, err := relay.Run(ctx, stream, target, s.relayOptions())
	s.log.Debug("stream closed", "peer", peer, "in", st.AToB, "out", st.BToA, "err", err)
}

// Close closes the listener and the destination; Serve must have returned.
func (s *Server) Close() error {
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	return s.closeSession()
}

// ListenAddr is "" for server tunnels.
func (s *Server) ListenAddr() string { return "" }

// Rejected returns the streams refused by protection, by reason.
func (s *Server) Rejected() map[string]uint64 { return s.guard.Rejected() }

// peerOf returns a short, log-safe name of a stream's remote destination.
func peerOf(c net.Conn) string {
	if a, ok := c.RemoteAddr().(i2pnet.Addr); ok && !a.Dest.IsZero() {
		return a.Dest.Hash().Short()
	}
	return "?"
}

// Client is a tcp-client tunnel.
type Client struct {
	base
	listen string // configured address with the default host filled in

	lnMu sync.Mutex
	ln   net.Listener // local TCP listener, owned by Open/Serve/Close

	// lost records that a dial found the session closed underneath us;
	// Serve then fails so the supervisor re-opens the tunnel.
	lostMu sync.Mutex
	lost   error
}

// NewClient checks cfg; nothing is opened until Open.
func NewClient(cfg Config) (*Client, error) {
	c := new(Client)
	if err := c.init(cfg, TypeClient); err != nil {
		return nil, err
	}
	if cfg.Tunnel.Destination == "" {
		return nil, fmt.Errorf("%w: no destination", ErrConfig)
	}
	host, port, err := net.SplitHostPort(cfg.Tunnel.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen: %w", ErrConfig, err)
	}
	if host == "" {
		host = "127.0.0.1" // never all interfaces by accident
	}
	c.listen = net.JoinHostPort(host, port)
	return c, nil
}

// Open binds the local address first (the failure users hit most, and
// cheap) and then opens the destination.
func (c *Client) Open(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", c.listen)
	if err != nil {
		return err
	}
	sess, err := c.openSession(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	c.lnMu.Lock()
	c.ln = ln
	c.lnMu.Unlock()
	c.lostMu.Lock()
	c.lost = nil
	c.lostMu.Unlock()
	// A client's own address links its users' connections together: not
	// at info level.
	c.log.Info("client tunnel up", "listen", ln.Addr().String())
	c.log.Debug("client destination", "b32", sess.Addr().Dest.B32())
	return nil
}

func (c *Client) lostErr() error {
	c.lostMu.Lock()
	defer c.lostMu.Unlock()
	return c.lost
}

// Serve accepts local connections until ctx ends (nil), the listener
// fails, or the session turned out closed underneath the tunnel (errors).
func (c *Client) Serve(ctx context.Context) error {
	c.lnMu.Lock()
	ln := c.ln
	c.lnMu.Unlock()
	c.mu.Lock()
	sess := c.session
	c.mu.Unlock()
	return c.serve(ctx, ln, func(ctx context.Context, local net.Conn) { c.handle(ctx, sess, ln, local) }, c.lostErr)
}

func (c *Client) handle(ctx context.Context, sess i2pnet.Session, ln net.Listener, local net.Conn) {
	remote, err := sess.Dial(ctx, c.cfg.Tunnel.Destination)
	if err != nil {
		local.Close()
		if ctx.Err() != nil {
			return
		}
		c.counters.FailedConns.Add(1)
		c.log.Warn("dial failed, local connection closed", "err", err)
		if errors.Is(err, i2pnet.ErrClosed) {
			c.lostMu.Lock()
			if c.lost == nil {
				c.lost = fmt.Errorf("session lost: %w", err)
				ln.Close() // wakes Accept; Serve reports lost
			}
			c.lostMu.Unlock()
		}
		return
	}
	st, err := relay.Run(ctx, remote, local, c.relayOptions())
	c.log.Debug("connection closed", "in", st.AToB, "out", st.BToA, "err", err)
}

// Close closes the local listener and the destination; Serve must have
// returned.
func (c *Client) Close() error {
	c.lnMu.Lock()
	ln := c.ln
	c.ln = nil
	c.lnMu.Unlock()
	if ln != nil {
		ln.Close()
	}
	return c.closeSession()
}

// ListenAddr returns the bound local address while open (the real port
// when the config asked for port 0), else the configured one.
func (c *Client) ListenAddr() string {
	c.lnMu.Lock()
	defer c.lnMu.Unlock()
	if c.ln != nil {
		return c.ln.Addr().String()
	}
	return c.listen
}
