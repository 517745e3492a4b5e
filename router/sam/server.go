package sam

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"i2pbridge/router"
	"i2pbridge/router/data"
	"i2pbridge/router/destination"
)

// Defaults for Config's timings.
const (
	// DefaultHelloTimeout bounds the wait for HELLO VERSION (samv3.html
	// "Timeouts": servers may time the HELLO out).
	DefaultHelloTimeout = 60 * time.Second
	// DefaultPublishWait bounds how long SESSION CREATE waits, once the
	// tunnels are up, for a floodfill to confirm the LeaseSet. Then the
	// session is answered OK anyway: it can dial out, and peers find it
	// once the store lands (routernet waits as long).
	DefaultPublishWait = 60 * time.Second
	// DefaultConnectTimeout bounds STREAM CONNECT: LeaseSet lookup plus
	// the SYN's round trip; after it the answer is RESULT=TIMEOUT.
	DefaultConnectTimeout = 2 * time.Minute
	// DefaultLookupTimeout bounds NAMING LOOKUP of a .b32.i2p name.
	DefaultLookupTimeout = time.Minute
	// DefaultPendingAccept is how long an incoming stream waits for a
	// STREAM ACCEPT before it is reset (i2pd keeps them 10 s too).
	DefaultPendingAccept = 10 * time.Second
	// ForwardDialTimeout bounds the TCP connection STREAM FORWARD opens
	// for each incoming stream (samv3.html: "no more than 3 seconds").
	ForwardDialTimeout = 3 * time.Second
)

// Sentinel errors.
var (
	ErrConfig  = errors.New("sam: invalid configuration")
	ErrServing = errors.New("sam: already serving")
)

// Config configures a Server. Router is required.
type Config struct {
	// Router runs the sessions' destinations; it must be running when
	// clients create sessions.
	Router *router.Router
	// Logger receives events; nil discards them. Destinations are logged
	// as short hashes, client addresses only at debug level.
	Logger *slog.Logger
	// Hosts resolves host names other than .b32.i2p (an address book,
	// e.g. naming.Books.Lookup); nil knows none.
	Hosts func(name string) (data.Destination, bool)
	// Rand supplies TRANSIENT and DEST GENERATE keys; nil is crypto/rand.
	Rand io.Reader

	// Timings; zero takes the Default constants.
	HelloTimeout   time.Duration
	PublishWait    time.Duration
	ConnectTimeout time.Duration
	LookupTimeout  time.Duration
	PendingAccept  time.Duration
}

// serverState is the Server's life cycle:
//
//	serverIdle ──Serve──▶ serverServing ──Serve returns──▶ serverStopped
//
// Sessions can exist only while serving.
type serverState uint8

const (
	serverIdle serverState = iota
	serverServing
	serverStopped
)

var serverStateNames = [...]string{serverIdle: "idle", serverServing: "serving", serverStopped: "stopped"}

func (s serverState) String() string {
	if int(s) < len(serverStateNames) {
		return serverStateNames[s]
	}
	return fmt.Sprintf("serverState(%d)", uint8(s))
}

// Server is a SAMv3 bridge on one router.
type Server struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	state    serverState
	sessions map[string]*session    // by ID, from reservation until closed
	dests    map[data.Hash]*session // the same sessions by destination
	conns    map[*conn]struct{}     // open client sockets
	shared   *router.Client         // NAMING LOOKUP without a session; lazily
	wg       sync.WaitGroup         // connection handlers
	randMu   sync.Mutex             // Rand is not assumed to be safe for concurrent use
}

// New checks cfg and returns a Server; Serve starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Router == nil {
		return nil, fmt.Errorf("%w: no router", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	setDefault(&cfg.HelloTimeout, DefaultHelloTimeout)
	setDefault(&cfg.PublishWait, DefaultPublishWait)
	setDefault(&cfg.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&cfg.LookupTimeout, DefaultLookupTimeout)
	setDefault(&cfg.PendingAccept, DefaultPendingAccept)
	return &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		sessions: map[string]*session{},
		dests:    map[data.Hash]*session{},
		conns:    map[*conn]struct{}{},
	}, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Serve accepts SAM clients on ln until ctx ends or ln fails, then closes
// ln, every client socket and with them every session, and returns once
// all are gone (nil when ctx ended). It may be called once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.state != serverIdle {
		s.mu.Unlock()
		ln.Close()
		return fmt.Errorf("%w (%s)", ErrServing, s.state)
	}
	s.state = serverServing
	s.mu.Unlock()
	s.log.Info("sam: serving", "addr", ln.Addr())

	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var err error
	var backoff time.Duration
	for {
		nc, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(aerr, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait, as
				// net/http does, rather than spin or give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			err = fmt.Errorf("sam: accept: %w", aerr)
			break
		}
		backoff = 0
		c := newConn(s, nc)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() { c.run(ctx) })
	}
	ln.Close()
	s.shutdown()
	return err
}

// shutdown closes every client socket (which ends its sessions), waits
// for the handlers and drops the shared lookup destination.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.state = serverStopped
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.nc.Close()
	}
	s.wg.Wait()
	s.mu.Lock()
	shared := s.shared
	s.shared = nil
	s.mu.Unlock()
	if shared != nil {
		shared.Close()
	}
	s.log.Info("sam: stopped")
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// generateKeys makes a new Ed25519/X25519 destination.
func (s *Server) generateKeys() (data.PrivateKeys, error) {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return data.GeneratePrivateKeys(s.cfg.Rand)
}

// Errors of session registration, mapped to SESSION STATUS results.
var (
	errDuplicatedID   = errors.New("session ID in use")
	errDuplicatedDest = errors.New("destination in use")
	errNotServing     = errors.New("server is not serving")
)

// reserve registers sess under its ID and destination, so that a second
// SESSION CREATE with either is refused while the first is still being
// built.
func (s *Server) reserve(sess *session) error { return s.register(sess, true) }

// reserveID registers a subsession under its ID alone: its destination
// is its primary's, registered already. IDs are unique across the server,
// subsessions included (samv3.html "SAM Sessions").
func (s *Server) reserveID(sess *session) error { return s.register(sess, false) }

func (s *Server) register(sess *session, withDest bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state != serverServing:
		return errNotServing
	case s.sessions[sess.id] != nil:
		return errDuplicatedID
	case withDest && s.dests[sess.hash] != nil:
		return errDuplicatedDest
	}
	s.sessions[sess.id] = sess
	if withDest {
		s.dests[sess.hash] = sess
	}
	return nil
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
	}
	if s.dests[sess.hash] == sess {
		delete(s.dests, sess.hash)
	}
}

// session returns the ready session with ID id, or an error saying why
// there is none (STREAM STATUS RESULT=INVALID_ID).
func (s *Server) session(id string) (*session, error) {
	if id == "" {
		return nil, errors.New("ID is missing")
	}
	s.mu.Lock()
	sess := s.sessions[id]
	s.mu.Unlock()
	if sess == nil {
		return nil, fmt.Errorf("no session with ID %q", id)
	}
	if st := sess.getState(); st != sessReady {
		return nil, fmt.Errorf("session %q is %s", id, st)
	}
	return sess, nil
}

// sharedDestination returns the destination NAMING LOOKUP uses on a
// socket without a session (i2pd uses its shared local destination the
// same way): unpublished, opened on first use, closed when Serve returns.
func (s *Server) sharedDestination(ctx context.Context) (*destination.Destination, error) {
	s.mu.Lock()
	if s.state != serverServing {
		s.mu.Unlock()
		return nil, errNotServing
	}
	c := s.shared
	if c == nil {
		keys, err := s.generateKeys()
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		c, err = s.cfg.Router.OpenClient(router.ClientConfig{Name: "sam-lookup", Keys: keys, Unpublished: true})
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		s.shared = c
	}
	s.mu.Unlock()
	if err := c.Pool.WaitReady(ctx); err != nil {
		return nil, err
	}
	return c.Dest, nil
}
