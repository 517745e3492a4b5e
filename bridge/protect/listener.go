package protect

import (
	"errors"
	"net"
	"sync"
	"time"
)

// Refuser answers a refused stream before it is closed (the http-server
// sends a 429 or 403 page instead of a bare reset). It runs on its own
// goroutine with a deadline already set on c; it must not close c.
type Refuser func(c net.Conn, rej *RejectedError)

// Limits on answering refused streams: a flood of refused callers must not
// pile up goroutines or hold streams open.
const (
	refuseTimeout = 10 * time.Second
	maxRefusing   = 32
)

// Listener wraps ln so that Accept returns only admitted streams; refused
// ones are counted, logged at debug level (short peer hash only), handed to
// refuse when it is not nil, and closed. Each accepted conn holds its
// Guard slots until it is closed. The conns keep CloseWrite when the
// underlying stream has it, so relays can half-close. Closing the listener
// closes ln and any stream still being refused, and waits for their
// goroutines.
func (g *Guard) Listener(ln net.Listener, refuse Refuser) net.Listener {
	return &listener{Listener: ln, g: g, refuse: refuse,
		refusing: map[net.Conn]struct{}{}, sem: make(chan struct{}, maxRefusing)}
}

type listener struct {
	net.Listener
	g      *Guard
	refuse Refuser

	mu       sync.Mutex
	closed   bool
	refusing map[net.Conn]struct{}
	wg       sync.WaitGroup
	sem      chan struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		release, err := l.g.Admit(PeerOf(c).Hash())
		if err != nil {
			var rej *RejectedError
			errors.As(err, &rej)
			l.g.log.Debug("stream refused", "peer", ShortPeer(c), "reason", string(rej.Reason))
			l.refuseConn(c, rej)
			continue
		}
		return Wrap(c, release), nil
	}
}

func (l *listener) refuseConn(c net.Conn, rej *RejectedError) {
	if l.refuse == nil {
		c.Close()
		return
	}
	select {
	case l.sem <- struct{}{}:
	default:
		c.Close() // too many answers in flight: just close
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.sem
		c.Close()
		return
	}
	l.refusing[c] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		defer func() { <-l.sem }()
		c.SetDeadline(time.Now().Add(refuseTimeout))
		l.refuse(c, rej)
		c.Close()
		l.mu.Lock()
		delete(l.refusing, c)
		l.mu.Unlock()
	}()
}

func (l *listener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	for c := range l.refusing {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	return err
}

type closeWriter interface{ CloseWrite() error }

// Wrap returns c with release called once when it is closed; it keeps
// CloseWrite when c has it. Listener uses it; kinds that call Admit
// themselves can too.
func Wrap(c net.Conn, release func()) net.Conn {
	gc := &conn{Conn: c, release: release}
	if _, ok := c.(closeWriter); ok {
		return halfCloser{gc}
	}
	return gc
}

type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// halfCloser is a conn whose stream supports half-close.
type halfCloser struct{ *conn }

func (c halfCloser) CloseWrite() error { return c.Conn.(closeWriter).CloseWrite() }
