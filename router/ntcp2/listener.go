package ntcp2

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultMaxPendingHandshakes bounds concurrent inbound handshakes; further
// connections are closed at once until one finishes (ntcp2.rst: "Place
// limits on maximum active connections and maximum connection setups in
// progress").
const DefaultMaxPendingHandshakes = 64

// Listener accepts NTCP2 sessions: it takes connections from a
// net.Listener, runs Bob's handshake on each in its own goroutine (bounded
// by DefaultMaxPendingHandshakes) and hands out established Sessions from
// Accept. All handshakes share one replay cache.
type Listener struct {
	ln       net.Listener
	cfg      Config
	c        *config
	accepted chan *Session
	closing  chan struct{}
	sem      chan struct{}
	wg       sync.WaitGroup

	closeOnce sync.Once
	stopOnce  sync.Once
	mu        sync.Mutex
	acceptErr error // why the accept loop stopped, other than Close
}

// Listen serves NTCP2 on ln, which the Listener owns from now on. A nil
// cfg.Replay gets a fresh ReplayCache with the default TTL and size.
func Listen(ln net.Listener, cfg Config) (*Listener, error) {
	if cfg.Replay == nil {
		cfg.Replay = NewReplayCache(0, 0)
	}
	c, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("ntcp2: listen: %w", err)
	}
	l := &Listener{
		ln:       ln,
		cfg:      cfg,
		c:        c,
		accepted: make(chan *Session),
		closing:  make(chan struct{}),
		sem:      make(chan struct{}, DefaultMaxPendingHandshakes),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Accept waits for the next established inbound Session.
func (l *Listener) Accept(ctx context.Context) (*Session, error) {
	select {
	case s := <-l.accepted:
		return s, nil
	case <-l.closing:
		l.mu.Lock()
		err := l.acceptErr
		l.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("ntcp2: accept: %w", err)
		}
		return nil, fmt.Errorf("ntcp2: accept: %w", ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("ntcp2: accept: %w", ctx.Err())
	}
}

// Close stops listening, aborts handshakes in progress, closes sessions
// that were established but not yet accepted, and waits for every goroutine
// it started. Sessions already returned by Accept are the caller's.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		l.stop()
		err = l.ln.Close()
		l.wg.Wait()
	})
	return err
}

// stop makes Accept and pending handshakes give up.
func (l *Listener) stop() { l.stopOnce.Do(func() { close(l.closing) }) }

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.closing:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and friends: back off as net/http does, up to 1 s.
			if isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				l.c.log.Warn("ntcp2: accept failed, retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-l.closing:
					return
				}
			}
			l.mu.Lock()
			l.acceptErr = err
			l.mu.Unlock()
			l.stop()
			return
		}
		backoff = 0
		select {
		case l.sem <- struct{}{}:
		default:
			l.c.log.Warn("ntcp2: too many pending handshakes, dropping connection")
			abort(conn)
			continue
		}
		l.wg.Add(1)
		go l.handshake(conn)
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (l *Listener) handshake(conn net.Conn) {
	defer l.wg.Done()
	defer func() { <-l.sem }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	s, err := Server(ctx, conn, l.cfg)
	if err != nil {
		// Remote addresses only at debug level (design.md, habit 13).
		l.c.log.Debug("ntcp2: inbound handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	select {
	case l.accepted <- s:
	case <-l.closing:
		_ = s.CloseWithReason(ReasonShutdown)
	}
}
