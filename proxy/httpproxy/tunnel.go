package httpproxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
	"i2pbridge/proxy/internal/serve"
	"i2pbridge/router/naming"
)

// Type is the tunnel type of the eepproxy.
const Type = config.TypeHTTPProxy

// TunnelConfig is what an http-proxy tunnel needs (the supervisor's
// Params).
type TunnelConfig struct {
	Tunnel  config.Tunnel
	Network i2pnet.Network
	// Datadir holds the local address book, <name>.hosts.txt; "" means
	// none (helpers can then be used once, not saved).
	Datadir  string
	Logger   *slog.Logger // nil = discard
	Rand     io.Reader    // keys and the helper-form secret; nil = crypto/rand
	Counters *relay.Counters
}

// Tunnel is an http-proxy tunnel: a local listener serving a Proxy on a
// client destination.
type Tunnel struct {
	cfg    TunnelConfig
	log    *slog.Logger
	listen string

	mu      sync.Mutex
	ln      net.Listener
	session i2pnet.Session
	proxy   *Proxy
	b32     string
	lost    error // set when the session turned out closed
}

// NewTunnel checks cfg; nothing is opened until Open.
func NewTunnel(cfg TunnelConfig) (*Tunnel, error) {
	t := cfg.Tunnel
	if t.Type != Type {
		return nil, fmt.Errorf("%w: type %q is not %s", ErrConfig, t.Type, Type)
	}
	if cfg.Network == nil {
		return nil, fmt.Errorf("%w: no network", ErrConfig)
	}
	if t.Name == "" || filepath.Base(t.Name) != t.Name || t.Name == "." || t.Name == ".." {
		return nil, fmt.Errorf("%w: name %q cannot name a file", ErrConfig, t.Name)
	}
	listen := t.Listen
	if listen == "" {
		listen = config.DefaultProxyListen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen: %w", ErrConfig, err)
	}
	if host == "" {
		host = config.DefaultHost // never all interfaces by accident
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
	return &Tunnel{cfg: cfg, log: cfg.Logger.With("tunnel", t.Name), listen: net.JoinHostPort(host, port)}, nil
}

// LocalBookPath is where the tunnel's local address book lives.
func (t *Tunnel) LocalBookPath() string {
	if t.cfg.Datadir == "" {
		return ""
	}
	return filepath.Join(t.cfg.Datadir, t.cfg.Tunnel.Name+".hosts.txt")
}

// Open binds the listener, loads the address books and opens the client
// destination.
func (t *Tunnel) Open(ctx context.Context) error {
	tc := t.cfg.Tunnel
	books, skipped, err := naming.OpenBooks(t.LocalBookPath(), tc.AddressBook)
	if err != nil {
		return fmt.Errorf("address book: %w", err)
	}
	for _, le := range skipped {
		t.log.Warn("address book line skipped", "err", le)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", t.listen)
	if err != nil {
		return err
	}
	sess, err := serve.OpenSession(ctx, t.cfg.Network, tc, t.cfg.Rand, t.log)
	if err != nil {
		ln.Close()
		return err
	}
	p, err := New(Config{
		Session:       sess,
		Books:         books,
		LocalBook:     t.LocalBookPath() != "",
		Jump:          tc.Jump,
		Outproxies:    tc.Outproxies,
		Listen:        ln.Addr().String(),
		IdleTimeout:   tc.IdleTimeout.Duration(),
		Logger:        t.log,
		Rand:          t.cfg.Rand,
		Counters:      t.cfg.Counters,
		OnSessionLost: func(err error) { t.sessionLost(ln, err) },
	})
	if err != nil {
		sess.Close()
		ln.Close()
		return err
	}
	t.mu.Lock()
	t.ln, t.session, t.proxy, t.b32, t.lost = ln, sess, p, sess.Addr().Dest.B32(), nil
	t.mu.Unlock()
	// The client destination links its users' requests together: not at
	// info level.
	t.log.Info("http proxy up", "listen", ln.Addr().String(), "outproxies", len(tc.Outproxies), "books", len(tc.AddressBook))
	t.log.Debug("http proxy destination", "b32", sess.Addr().Dest.B32())
	return nil
}

// sessionLost records that the session is gone and stops the listener,
// so Serve fails and the supervisor re-opens the tunnel.
func (t *Tunnel) sessionLost(ln net.Listener, err error) {
	t.mu.Lock()
	first := t.lost == nil
	if first {
		t.lost = fmt.Errorf("session lost: %w", err)
	}
	t.mu.Unlock()
	if first {
		t.log.Warn("i2p session lost; restarting the proxy", "err", err)
		ln.Close()
	}
}

// Serve serves the proxy until ctx ends (nil), the listener fails or the
// session is lost (errors).
func (t *Tunnel) Serve(ctx context.Context) error {
	t.mu.Lock()
	ln, p := t.ln, t.proxy
	t.mu.Unlock()
	if ln == nil {
		return errors.New("httpproxy: Serve before Open")
	}
	defer p.Close()
	err := serve.Run(ctx, ln, p, serve.Options{Logger: t.log, Counters: t.cfg.Counters})
	t.mu.Lock()
	lost := t.lost
	t.mu.Unlock()
	if lost != nil && ctx.Err() == nil {
		return lost
	}
	return err
}

// Close closes the listener and the destination; Serve must have returned.
func (t *Tunnel) Close() error {
	t.mu.Lock()
	ln, sess := t.ln, t.session
	t.ln, t.session, t.proxy, t.b32 = nil, nil, nil, ""
	t.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	if sess != nil {
		return sess.Close()
	}
	return nil
}

// Address returns the b32 of the client destination while open.
func (t *Tunnel) Address() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b32
}

// ListenAddr returns the bound local address while open (the real port
// when the config asked for port 0), else the configured one.
func (t *Tunnel) ListenAddr() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln != nil {
		return t.ln.Addr().String()
	}
	return t.listen
}
