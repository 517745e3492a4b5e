package samnet

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/samnet/samline"
)

// DefaultAddr is the SAM bridge address of i2pd and Java I2P.
const DefaultAddr = "127.0.0.1:7656"

// Config configures a Network. Zero values pick the defaults noted.
type Config struct {
	// Addr is the SAM bridge, host:port. Default DefaultAddr.
	Addr string
	// Logger receives connection and reconnection events; nil discards.
	Logger *slog.Logger

	// Dial opens TCP connections to Addr (test hook). Default net.Dialer.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Rand is the entropy for transient keys and session IDs. Default
	// crypto/rand.
	Rand io.Reader

	// MinBackoff and MaxBackoff bound the jittered exponential delay
	// between attempts to re-create a lost session. Default 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// HelloTimeout bounds the wait for HELLO REPLY; a bridge answers it
	// at once. Default 30s.
	HelloTimeout time.Duration
	// StaleAnswer and StaleWait guard against i2pd 2.45's dying
	// destinations: it deletes a closed session's destination 5 s after
	// the close, and a SESSION CREATE with the same keys before then is
	// answered at once (a new destination takes its ~20 s readiness wait)
	// with that destination, whose streams stop 5 s later. Below SAM 3.2,
	// an answer faster than StaleAnswer is taken for such a destination:
	// the session is closed and created again after StaleWait. Defaults
	// 1 s and 6 s; a negative StaleAnswer turns the guard off.
	StaleAnswer, StaleWait time.Duration
	// CreateTimeout bounds SESSION CREATE while reconnecting (Open uses its
	// ctx instead). i2pd answers only when its tunnels are built, checking
	// every 20 s, and never when it has no peers. Default 3m.
	CreateTimeout time.Duration
	// KeepAlive is the idle interval between PINGs on the control socket
	// when the bridge speaks SAM 3.2+; negative disables. Default 60s.
	// Below 3.2 there is no PING (i2pd 2.45 would drop the session); i2pd
	// does not time out idle control sockets, and TCP keep-alive (on by
	// default in net.Dialer) notices a dead peer.
	KeepAlive time.Duration
	// KeepAliveTimeout is how long to wait for PONG before declaring the
	// control socket dead. Default 30s.
	KeepAliveTimeout time.Duration
	// CommandTimeout bounds a NAMING LOOKUP on the control socket; when it
	// passes without an answer the control socket is considered wedged and
	// the session is re-created. Default 2m.
	CommandTimeout time.Duration
	// AcceptPool is how many STREAM ACCEPTs a Listener keeps pending, so
	// that concurrent incoming streams are not left waiting. Default 4.
	AcceptPool int
	// MaxVersion caps the SAM version we ask for ("3.1" to pretend to be
	// an old client). Default "3.3".
	MaxVersion string
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.Rand == nil {
		c.Rand = crand.Reader
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = 30 * time.Second
	}
	if c.CreateTimeout <= 0 {
		c.CreateTimeout = 3 * time.Minute
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 60 * time.Second
	}
	if c.KeepAliveTimeout <= 0 {
		c.KeepAliveTimeout = 30 * time.Second
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 2 * time.Minute
	}
	if c.AcceptPool <= 0 {
		c.AcceptPool = 4
	}
	if c.StaleAnswer == 0 {
		c.StaleAnswer = time.Second
	}
	if c.StaleWait <= 0 {
		c.StaleWait = 6 * time.Second
	}
	if c.MaxVersion == "" {
		c.MaxVersion = v33.String()
	}
}

// Network is an i2pnet.Network backed by an external router's SAM bridge.
type Network struct {
	cfg    Config
	log    *slog.Logger
	maxVer version
	cfgErr error

	mu       sync.Mutex
	closed   bool
	sessions map[*Session]struct{}
}

var _ i2pnet.Network = (*Network)(nil)

// New returns a Network that talks to the SAM bridge at cfg.Addr. Nothing
// is dialed until Open.
func New(cfg Config) *Network {
	cfg.setDefaults()
	n := &Network{cfg: cfg, log: cfg.Logger, sessions: make(map[*Session]struct{})}
	v, err := parseVersion(cfg.MaxVersion)
	switch {
	case err != nil:
		n.cfgErr = fmt.Errorf("samnet: MaxVersion: %w", err)
	case v.less(v30) || v33.less(v):
		n.cfgErr = fmt.Errorf("samnet: MaxVersion %s outside 3.0–3.3", v)
	}
	n.maxVer = v
	return n
}

// Open creates a STREAM session and returns once the router answered
// SESSION STATUS RESULT=OK (its tunnels are up), bounded by ctx. An
// unreachable bridge or a refused session fails Open; after Open the
// session is kept alive and re-created whenever the bridge drops it.
func (n *Network) Open(ctx context.Context, cfg i2pnet.SessionConfig) (i2pnet.Session, error) {
	if n.cfgErr != nil {
		return nil, n.cfgErr
	}
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return nil, i2pnet.ErrClosed
	}
	s, err := newSession(n, cfg)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, i2pnet.ErrClosed
	}
	n.sessions[s] = struct{}{}
	n.mu.Unlock()
	if err := s.open(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes every session opened on n; Open fails afterwards.
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

func (n *Network) forget(s *Session) {
	n.mu.Lock()
	delete(n.sessions, s)
	n.mu.Unlock()
}

// randomHex returns 2*k hex digits from cfg.Rand.
func (n *Network) randomHex(k int) (string, error) {
	b := make([]byte, k)
	if _, err := io.ReadFull(n.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("samnet: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// dialHello connects to the bridge and negotiates a version in
// [3.0, max]. The TCP connect and the HELLO exchange are bounded by ctx
// and by HelloTimeout.
func (n *Network) dialHello(ctx context.Context, max version) (*samConn, version, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.HelloTimeout)
	defer cancel()
	raw, err := n.cfg.Dial(ctx, "tcp", n.cfg.Addr)
	if err != nil {
		return nil, version{}, &bridgeError{addr: n.cfg.Addr, err: err}
	}
	c := newSAMConn(raw)
	release := bindCtx(ctx, raw)
	v, err := n.hello(c, max)
	if rerr := release(); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		_ = raw.Close()
		return nil, version{}, ctxErr(ctx, err)
	}
	return c, v, nil
}

// hello sends "HELLO VERSION MIN=3.0 MAX=<max>" and checks the reply.
// i2pd 2.45 answers MAX=3.3 with VERSION=3.0 (it falls back to MIN), Java
// I2P with 3.3; both are fine.
func (n *Network) hello(c *samConn, max version) (version, error) {
	cmd := samline.Message{Verb: "HELLO", Sub: "VERSION", Args: []samline.Arg{
		{Key: "MIN", Value: v30.String()}, {Key: "MAX", Value: max.String()},
	}}
	if err := c.writeMsg(cmd, v30); err != nil {
		return version{}, &bridgeError{addr: n.cfg.Addr, err: err}
	}
	m, err := c.readMsg()
	if err != nil {
		return version{}, &bridgeError{addr: n.cfg.Addr, err: fmt.Errorf("HELLO: %w", err)}
	}
	if err := expect(m, "HELLO", "REPLY"); err != nil {
		return version{}, err
	}
	if err := replyErr("HELLO", m); err != nil {
		return version{}, err
	}
	v, err := parseVersion(m.Value("VERSION"))
	if err != nil {
		return version{}, err
	}
	if v.less(v30) || max.less(v) {
		return version{}, fmt.Errorf("%w: bridge chose version %s outside 3.0–%s", ErrProtocol, v, max)
	}
	return v, nil
}

// negotiate opens a control connection: HELLO with our highest version
// and, if the bridge answers NOVERSION, once more capped at 3.1 for
// bridges that compare version strings naively.
func (n *Network) negotiate(ctx context.Context) (*samConn, version, error) {
	c, v, err := n.dialHello(ctx, n.maxVer)
	if err != nil && errors.Is(err, ErrNoVersion) && v31.less(n.maxVer) {
		n.log.Debug("sam bridge refused our version range, retrying with MAX=3.1", "err", err)
		c, v, err = n.dialHello(ctx, v31)
	}
	return c, v, err
}
