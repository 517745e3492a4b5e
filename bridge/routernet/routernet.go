// Package routernet is the bundled router as an i2pnet.Network: each
// Session is a local destination on the router (router.OpenClient), its
// streams are the router's streaming connections. It is the embedded
// backend's half of the seam bridge/i2pnet draws; bridge/samnet is the
// other.
package routernet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/router"
	"i2pbridge/router/data"
	"i2pbridge/router/destination"
	"i2pbridge/router/streaming"
	"i2pbridge/router/tunnel/pool"
)

// PublishWait bounds how long Open waits for a floodfill to confirm the new
// destination's LeaseSet after its tunnels are up. A destination is usable
// for dialing out before that, so Open returns after the wait either way
// and logs when the confirmation did not come.
const PublishWait = 60 * time.Second

// Network opens destinations on one router.
type Network struct {
	r   *router.Router
	log *slog.Logger

	mu       sync.Mutex
	closed   bool
	sessions map[*Session]struct{}
}

var _ i2pnet.Network = (*Network)(nil)

// New returns a Network on r, which must be running when Open is called.
func New(r *router.Router, logger *slog.Logger) *Network {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Network{r: r, log: logger, sessions: map[*Session]struct{}{}}
}

// Open starts a destination and returns once it has tunnels both ways
// and its LeaseSet is confirmed by a floodfill (or PublishWait passed).
// Nil Keys make a transient destination.
func (n *Network) Open(ctx context.Context, cfg i2pnet.SessionConfig) (i2pnet.Session, error) {
	in, out, err := PoolConfig(cfg.Options)
	if err != nil {
		return nil, fmt.Errorf("routernet: session %s: %w", cfg.Name, err)
	}
	var keys data.PrivateKeys
	if cfg.Keys != nil {
		keys = *cfg.Keys
	} else if keys, err = data.GeneratePrivateKeys(rand.Reader); err != nil {
		return nil, fmt.Errorf("routernet: session %s: %w", cfg.Name, err)
	}
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("routernet: session %s: %w", cfg.Name, i2pnet.ErrClosed)
	}
	c, err := n.r.OpenClient(router.ClientConfig{Name: cfg.Name, Keys: keys, Inbound: in, Outbound: out})
	if err != nil {
		return nil, fmt.Errorf("routernet: session %s: %w", cfg.Name, err)
	}
	start := time.Now()
	if err := c.Pool.WaitReady(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("routernet: session %s: waiting for tunnels: %w", cfg.Name, err)
	}
	tunnels := time.Since(start)
	wait := time.NewTimer(PublishWait)
	defer wait.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for c.Dest.Publication().State < destination.PublishConfirmed {
		select {
		case <-ctx.Done():
			c.Close()
			return nil, fmt.Errorf("routernet: session %s: waiting for the LeaseSet to be published: %w", cfg.Name, ctx.Err())
		case <-wait.C:
			n.log.Warn("routernet: LeaseSet not confirmed yet; the destination can dial, others may not find it for a while",
				"session", cfg.Name, "waited", PublishWait, "state", c.Dest.Publication().State)
			goto ready
		case <-tick.C:
		}
	}
ready:
	s := &Session{n: n, c: c, name: cfg.Name, addr: i2pnet.Addr{Dest: c.Dest.Identity()}}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		c.Close()
		return nil, fmt.Errorf("routernet: session %s: %w", cfg.Name, i2pnet.ErrClosed)
	}
	n.sessions[s] = struct{}{}
	n.mu.Unlock()
	n.log.Info("routernet: session ready", "session", cfg.Name, "b32", s.addr.Dest.B32(),
		"tunnels", tunnels.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
	return s, nil
}

// Close closes every session; the router itself is its owner's to stop.
func (n *Network) Close() error {
	n.mu.Lock()
	n.closed = true
	ss := make([]*Session, 0, len(n.sessions))
	for s := range n.sessions {
		ss = append(ss, s)
	}
	n.mu.Unlock()
	var errs []error
	for _, s := range ss {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// PoolConfig reads the I2CP tunnel options (inbound.length, .quantity,
// .lengthVariance and the same for outbound); unset ones stay zero, which
// the router fills with its client defaults. Other options are ignored,
// as routers ignore options they do not know.
//
// A length of 0 (a zero-hop tunnel, which i2pd builds) becomes
// pool.MinLength: the bundled router builds no zero-hop client tunnels
// (see pool.MinLength), and zero here would mean "the default", three
// hops, the opposite of what was asked for.
func PoolConfig(opts map[string]string) (in, out pool.DirConfig, err error) {
	for key, v := range opts {
		dir, field, ok := strings.Cut(key, ".")
		if !ok || (dir != "inbound" && dir != "outbound") {
			continue
		}
		d := &in
		if dir == "outbound" {
			d = &out
		}
		var p *int
		switch field {
		case "length":
			p = &d.Length
		case "quantity":
			p = &d.Quantity
		case "lengthVariance":
			p = &d.Variance
		default:
			continue
		}
		n, perr := strconv.Atoi(v)
		if perr != nil {
			return in, out, fmt.Errorf("option %s=%q is not a number", key, v)
		}
		if field == "length" && n == 0 {
			n = pool.MinLength
		}
		*p = n
	}
	return in, out, nil
}

// Session is one destination on the router.
type Session struct {
	n    *Network
	c    *router.Client
	name string
	addr i2pnet.Addr

	mu     sync.Mutex
	ln     *listener
	closed bool
}

var _ i2pnet.Session = (*Session)(nil)

// Addr is our destination.
func (s *Session) Addr() i2pnet.Addr { return s.addr }

// Dial opens a stream to address ("xxx.b32.i2p" or a base64 Destination,
// with an optional ":port"; the embedded router has no address book yet,
// so other names are unknown).
func (s *Session) Dial(ctx context.Context, address string) (net.Conn, error) {
	host, port, err := i2pnet.SplitPort(address)
	if err != nil {
		return nil, err
	}
	var c *streaming.Conn
	switch h, b32err := data.ParseB32(host); {
	case b32err == nil:
		c, err = s.c.Dest.Dial(ctx, h, uint16(port))
	default:
		d, derr := data.ParseDestinationBase64(host)
		if derr != nil {
			return nil, fmt.Errorf("dial %q: %w (the embedded router knows .b32.i2p and base64 addresses only)", host, i2pnet.ErrUnknownName)
		}
		c, err = s.c.Dest.DialDestination(ctx, d, uint16(port))
	}
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, destination.ErrClosed) {
			return nil, fmt.Errorf("dial %s: %w", host, err)
		}
		return nil, fmt.Errorf("dial %s: %w: %w", host, i2pnet.ErrUnreachable, err)
	}
	return wrap(c, s.addr.Dest), nil
}

// Resolve turns a b32 (by LeaseSet lookup) or base64 address into a
// Destination.
func (s *Session) Resolve(ctx context.Context, name string) (data.Destination, error) {
	if _, err := data.ParseB32(name); err == nil {
		d, err := s.c.Dest.Resolve(ctx, name)
		if err != nil {
			return data.Destination{}, fmt.Errorf("resolve %s: %w: %w", name, i2pnet.ErrUnreachable, err)
		}
		return d, nil
	}
	if d, err := data.ParseDestinationBase64(name); err == nil {
		return d, nil
	}
	return data.Destination{}, fmt.Errorf("resolve %q: %w", name, i2pnet.ErrUnknownName)
}

// Listen returns the listener for incoming streams (once per Session).
func (s *Session) Listen() (net.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("listen: %w", i2pnet.ErrClosed)
	}
	if s.ln != nil {
		return nil, errors.New("routernet: Listen called twice on one session")
	}
	l, err := s.c.Dest.Listen()
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.ln = &listener{l: l, local: s.addr}
	return s.ln, nil
}

// Close stops the destination; its streams end.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.n.mu.Lock()
	delete(s.n.sessions, s)
	s.n.mu.Unlock()
	return s.c.Close()
}

// listener wraps the streaming listener so accepted streams carry
// i2pnet.Addr addresses, which the tunnel kinds read.
type listener struct {
	l     *streaming.Listener
	local i2pnet.Addr
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.l.AcceptStream(context.Background())
	if err != nil {
		return nil, err
	}
	return wrap(c, l.local.Dest), nil
}

func (l *listener) Close() error   { return l.l.Close() }
func (l *listener) Addr() net.Addr { return l.local }

// conn is a stream with i2pnet.Addr addresses; CloseWrite (half-close)
// comes from the streaming connection.
type conn struct {
	*streaming.Conn
	local, remote i2pnet.Addr
}

func wrap(c *streaming.Conn, local data.Destination) *conn {
	w := &conn{Conn: c, local: i2pnet.Addr{Dest: local}}
	if a, ok := c.LocalAddr().(streaming.Addr); ok {
		w.local.Port = a.Port
	}
	if a, ok := c.RemoteAddr().(streaming.Addr); ok {
		w.remote = i2pnet.Addr{Dest: a.Dest, Port: a.Port}
	}
	return w
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }
