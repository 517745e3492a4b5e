// Package i2pnettest is an in-memory i2pnet.Network for tests of tunnels,
// proxies and the CLI: no router, no sockets, real keys.
//
// A Network is one router's view of a shared in-memory I2P. Sessions opened
// on it get real data.PrivateKeys (generated for transient sessions, as
// given otherwise), so their b32 and base64 addresses are genuine. Any
// session can Dial another session's b32, base64 Destination or a name
// registered with AddHost, optionally with ":port"; the target's Listener
// accepts the stream. NewPeer attaches a second Network (a second router) to
// the same I2P, so two bridges in one test can talk to each other while
// each owns and closes its own Network.
//
// Streams are in-memory duplex connections (*Conn) with a bounded window,
// deadlines and half-close (CloseWrite), which net.Pipe lacks. LocalAddr
// and RemoteAddr are i2pnet.Addr values: the accepted side sees the
// dialer's destination, the dialer sees the target with the dialed port.
//
// Faults: FailNextOpen and FailNextDial make the next call fail with a
// given error (queued: call twice to fail twice); Session.Drop simulates a
// backend that lost a destination for good: its streams are reset, Accept,
// Dial and Resolve fail, and it is unreachable until reopened.
//
// Close semantics follow the i2pnet contract: closing a listener keeps its
// session; closing a session resets its open streams and makes it
// unreachable; Network.Close closes every session opened on that Network.
// A destination can be open only once at a time on the whole I2P.
//
// Blocking calls wait on channels and timers made by the Network, its
// sessions and streams, so everything works inside a testing/synctest
// bubble (fake time for deadlines) when the Network is created there.
package i2pnettest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/router/data"
)

var (
	// ErrInjected is a ready-made error for FailNextOpen, FailNextDial and
	// Drop.
	ErrInjected = errors.New("i2pnettest: injected failure")
	// ErrDuplicate: Open with keys whose destination is already open.
	ErrDuplicate = errors.New("i2pnettest: destination already open")
)

// i2p is the shared in-memory I2P: which destinations are online and the
// address book.
type i2p struct {
	mu     sync.Mutex
	online map[data.Hash]*Session
	hosts  map[string]data.Destination
}

// Network is an i2pnet.Network on an in-memory I2P. The zero value is not
// usable; call New.
type Network struct {
	i2p *i2p

	mu         sync.Mutex
	sessions   []*Session // open, in Open order
	openFaults []error
	dialFaults []error
	closed     bool
}

var _ i2pnet.Network = (*Network)(nil)

// New returns a Network on a fresh, empty I2P.
func New() *Network {
	return &Network{i2p: &i2p{
		online: make(map[data.Hash]*Session),
		hosts:  make(map[string]data.Destination),
	}}
}

// NewPeer returns another Network on the same I2P (as if a second router
// joined): sessions of both can reach each other, and each Network has its
// own faults and its own Close.
func (n *Network) NewPeer() *Network {
	return &Network{i2p: n.i2p}
}

// AddHost registers name (e.g. "echo.i2p", case-insensitive) in the
// address book shared by all Networks of this I2P.
func (n *Network) AddHost(name string, d data.Destination) {
	n.i2p.mu.Lock()
	n.i2p.hosts[strings.ToLower(name)] = d
	n.i2p.mu.Unlock()
}

// FailNextOpen makes the next Open on this Network fail with err.
func (n *Network) FailNextOpen(err error) {
	n.mu.Lock()
	n.openFaults = append(n.openFaults, err)
	n.mu.Unlock()
}

// FailNextDial makes the next Dial by any session of this Network fail
// with err.
func (n *Network) FailNextDial(err error) {
	n.mu.Lock()
	n.dialFaults = append(n.dialFaults, err)
	n.mu.Unlock()
}

// Session returns the newest open, not dropped session whose
// SessionConfig.Name is name, or nil. Tests use it to reach the session a
// tunnel opened.
func (n *Network) Session(name string) *Session {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.sessions) - 1; i >= 0; i-- {
		s := n.sessions[i]
		if s.cfg.Name == name && s.usable() == nil {
			return s
		}
	}
	return nil
}

// Open creates a session: with cfg.Keys, or with fresh transient keys when
// it is nil. It fails with an injected error, ErrDuplicate when the
// destination is already open, i2pnet.ErrClosed after Close, or ctx's error.
func (n *Network) Open(ctx context.Context, cfg i2pnet.SessionConfig) (i2pnet.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, fmt.Errorf("open %q: %w", cfg.Name, i2pnet.ErrClosed)
	}
	if len(n.openFaults) > 0 {
		err := n.openFaults[0]
		n.openFaults = n.openFaults[1:]
		n.mu.Unlock()
		return nil, fmt.Errorf("open %q: %w", cfg.Name, err)
	}
	n.mu.Unlock()

	var keys data.PrivateKeys
	if cfg.Keys != nil {
		keys = *cfg.Keys
	} else {
		k, err := data.GeneratePrivateKeys(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("open %q: transient keys: %w", cfg.Name, err)
		}
		keys = k
	}
	opts := make(map[string]string, len(cfg.Options))
	for k, v := range cfg.Options {
		opts[k] = v
	}
	s := &Session{
		net:   n,
		cfg:   i2pnet.SessionConfig{Name: cfg.Name, Keys: cfg.Keys, Options: opts},
		keys:  keys,
		addr:  i2pnet.Addr{Dest: keys.Destination()},
		conns: make(map[*Conn]struct{}),
	}

	// Register on this Network first so a concurrent Close sees it.
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, fmt.Errorf("open %q: %w", cfg.Name, i2pnet.ErrClosed)
	}
	n.i2p.mu.Lock()
	h := s.addr.Dest.Hash()
	if _, dup := n.i2p.online[h]; dup {
		n.i2p.mu.Unlock()
		n.mu.Unlock()
		return nil, fmt.Errorf("open %q: %w", cfg.Name, ErrDuplicate)
	}
	n.i2p.online[h] = s
	n.i2p.mu.Unlock()
	n.sessions = append(n.sessions, s)
	n.mu.Unlock()
	return s, nil
}

// Close closes every session opened on this Network; later Opens fail
// with i2pnet.ErrClosed.
func (n *Network) Close() error {
	n.mu.Lock()
	n.closed = true
	sessions := append([]*Session(nil), n.sessions...)
	n.mu.Unlock()
	for _, s := range sessions {
		s.Close()
	}
	return nil
}

// nextDialFault pops an injected Dial error.
func (n *Network) nextDialFault() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.dialFaults) == 0 {
		return nil
	}
	err := n.dialFaults[0]
	n.dialFaults = n.dialFaults[1:]
	return err
}

// forget removes s from the Network's list and, if it is still the one
// registered for its destination, from the I2P.
func (n *Network) forget(s *Session, fromNetwork bool) {
	n.i2p.mu.Lock()
	if h := s.addr.Dest.Hash(); n.i2p.online[h] == s {
		delete(n.i2p.online, h)
	}
	n.i2p.mu.Unlock()
	if !fromNetwork {
		return
	}
	n.mu.Lock()
	for i, x := range n.sessions {
		if x == s {
			n.sessions = append(n.sessions[:i], n.sessions[i+1:]...)
			break
		}
	}
	n.mu.Unlock()
}

// resolve maps a name (without port) to a Destination.
func (i *i2p) resolve(name string) (data.Destination, error) {
	lower := strings.ToLower(name)
	if strings.HasSuffix(lower, data.B32Suffix) {
		h, err := data.ParseB32(lower)
		if err != nil {
			return data.Destination{}, fmt.Errorf("%w: %w", i2pnet.ErrUnknownName, err)
		}
		i.mu.Lock()
		s := i.online[h]
		i.mu.Unlock()
		if s == nil {
			// A real router would find no leaseset for it.
			return data.Destination{}, fmt.Errorf("%s: %w", h.Short(), i2pnet.ErrUnreachable)
		}
		return s.addr.Dest, nil
	}
	i.mu.Lock()
	d, ok := i.hosts[lower]
	i.mu.Unlock()
	if ok {
		return d, nil
	}
	if strings.HasSuffix(lower, ".i2p") {
		return data.Destination{}, fmt.Errorf("%q: %w", name, i2pnet.ErrUnknownName)
	}
	d, err := data.ParseDestinationBase64(name)
	if err != nil {
		return data.Destination{}, fmt.Errorf("%w: %w", i2pnet.ErrUnknownName, err)
	}
	return d, nil
}

// Session is one destination on the in-memory I2P.
type Session struct {
	net  *Network
	cfg  i2pnet.SessionConfig // as passed to Open (Options copied)
	keys data.PrivateKeys
	addr i2pnet.Addr

	mu       sync.Mutex
	listener *listener
	conns    map[*Conn]struct{}
	closed   bool
	dropErr  error
}

var _ i2pnet.Session = (*Session)(nil)

// Addr returns the session's destination.
func (s *Session) Addr() i2pnet.Addr { return s.addr }

// Config returns the SessionConfig the session was opened with (Keys nil
// for transient sessions).
func (s *Session) Config() i2pnet.SessionConfig { return s.cfg }

// Keys returns the session's private keys (generated ones for transient
// sessions).
func (s *Session) Keys() data.PrivateKeys { return s.keys }

// Conns returns the number of open stream ends of this session (dialed and
// accepted).
func (s *Session) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// usable returns why the session cannot be used, or nil.
func (s *Session) usable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usableLocked()
}

func (s *Session) usableLocked() error {
	switch {
	case s.closed:
		return i2pnet.ErrClosed
	case s.dropErr != nil:
		return fmt.Errorf("i2pnettest: session %q dropped: %w", s.cfg.Name, s.dropErr)
	}
	return nil
}

// addConn registers c, or fails when the session is gone.
func (s *Session) addConn(c *Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return err
	}
	s.conns[c] = struct{}{}
	c.onClose = s.removeConn
	return nil
}

func (s *Session) removeConn(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Dial opens a stream to address ("name.i2p", "xxx.b32.i2p" or a base64
// Destination, each with an optional ":port"). It fails with
// i2pnet.ErrUnknownName for an unknown name and i2pnet.ErrUnreachable when
// the destination is not online or not listening.
func (s *Session) Dial(ctx context.Context, address string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.usable(); err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if err := s.net.nextDialFault(); err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	name, port, err := i2pnet.SplitPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	dest, err := s.net.i2p.resolve(name)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	h := dest.Hash()
	s.net.i2p.mu.Lock()
	target := s.net.i2p.online[h]
	s.net.i2p.mu.Unlock()
	if target == nil {
		return nil, fmt.Errorf("dial %s: %w", h.Short(), i2pnet.ErrUnreachable)
	}
	target.mu.Lock()
	l := target.listener
	target.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("dial %s: not listening: %w", h.Short(), i2pnet.ErrUnreachable)
	}

	dc, ac := newStream(s.addr, i2pnet.Addr{Dest: dest, Port: port})
	if err := s.addConn(dc); err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if err := target.addConn(ac); err != nil {
		dc.Close()
		return nil, fmt.Errorf("dial %s: %w", h.Short(), i2pnet.ErrUnreachable)
	}
	if !l.enqueue(ac) {
		dc.reset(ErrReset)
		ac.Close()
		return nil, fmt.Errorf("dial %s: not listening: %w", h.Short(), i2pnet.ErrUnreachable)
	}
	return dc, nil
}

// Resolve turns a hosts name, b32 or base64 into a Destination (a b32 only
// resolves while its destination is online, as a leaseset lookup would).
func (s *Session) Resolve(ctx context.Context, name string) (data.Destination, error) {
	if err := ctx.Err(); err != nil {
		return data.Destination{}, err
	}
	if err := s.usable(); err != nil {
		return data.Destination{}, fmt.Errorf("resolve: %w", err)
	}
	d, err := s.net.i2p.resolve(name)
	if err != nil {
		return data.Destination{}, fmt.Errorf("resolve: %w", err)
	}
	return d, nil
}

// Listen returns the session's listener; it may be called once.
func (s *Session) Listen() (net.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if s.listener != nil {
		return nil, errors.New("i2pnettest: Listen called twice on one session")
	}
	s.listener = &listener{s: s, changed: make(chan struct{})}
	return s.listener, nil
}

// Close closes the session: its listener stops, its open streams are reset
// (the peers see ErrReset), and its destination goes offline.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.shutdown(fmt.Errorf("%w: %w", net.ErrClosed, i2pnet.ErrClosed))
	s.net.forget(s, true)
	return nil
}

// Drop simulates losing the session in the backend for good (err, e.g.
// ErrInjected, is what callers see, wrapped): open streams are reset,
// Accept, Dial and Resolve fail, the destination goes offline. The owner
// still has to Close it.
func (s *Session) Drop(err error) {
	s.mu.Lock()
	if s.closed || s.dropErr != nil {
		s.mu.Unlock()
		return
	}
	s.dropErr = err
	s.mu.Unlock()
	s.shutdown(s.usable())
	s.net.forget(s, false)
}

// shutdown stops the listener with acceptErr and resets every stream.
func (s *Session) shutdown(acceptErr error) {
	s.mu.Lock()
	l := s.listener
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if l != nil {
		l.close(acceptErr)
	}
	for _, c := range conns {
		c.reset(ErrReset)
	}
}

// listener hands accepted streams to Accept. Dial appends to pending under
// mu, so a stream is either accepted or reset by close, never lost.
type listener struct {
	s       *Session
	mu      sync.Mutex
	pending []*Conn
	err     error // non-nil once closed: what Accept returns
	changed chan struct{}
}

func (l *listener) enqueue(c *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false
	}
	l.pending = append(l.pending, c)
	close(l.changed)
	l.changed = make(chan struct{})
	return true
}

// Accept waits for the next stream. After Close it returns an error that
// matches both net.ErrClosed and i2pnet.ErrClosed; after Drop, the drop
// error.
func (l *listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.err != nil {
			err := l.err
			l.mu.Unlock()
			return nil, fmt.Errorf("accept: %w", err)
		}
		if len(l.pending) > 0 {
			c := l.pending[0]
			l.pending = l.pending[1:]
			l.mu.Unlock()
			return c, nil
		}
		ch := l.changed
		l.mu.Unlock()
		<-ch
	}
}

// close stops the listener; streams not yet accepted are reset.
func (l *listener) close(err error) {
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return
	}
	l.err = err
	pending := l.pending
	l.pending = nil
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	for _, c := range pending {
		c.reset(ErrReset)
	}
}

// Close closes the listener; the session stays open and unreachable for new
// streams.
func (l *listener) Close() error {
	l.close(fmt.Errorf("%w: %w", net.ErrClosed, i2pnet.ErrClosed))
	return nil
}

// Addr returns the session's i2pnet.Addr.
func (l *listener) Addr() net.Addr { return l.s.addr }
