package i2pnettest

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"i2pbridge/bridge/i2pnet"
)

// ErrReset is what a stream end sees when the other side's session went
// away (closed or dropped) while the stream was open.
var ErrReset = errors.New("i2pnettest: stream reset")

// errWriteClosed is returned by Write after CloseWrite on the same end.
var errWriteClosed = errors.New("i2pnettest: write after CloseWrite")

// windowSize bounds the bytes buffered in one direction, so a fast writer
// blocks on a slow reader as it would on a real stream.
const windowSize = 256 << 10

// pipe is one direction of a stream: a bounded byte buffer with a writer
// end and a reader end. Waiters block on changed, which is closed and
// replaced on every state change (a broadcast that also works with
// select, deadlines and testing/synctest).
type pipe struct {
	mu      sync.Mutex
	buf     []byte
	eof     bool  // the writer half-closed: reads drain buf, then io.EOF
	broken  bool  // the reader is gone: writes fail
	err     error // reset: both ends fail with it
	changed chan struct{}
}

func newPipe() *pipe { return &pipe{changed: make(chan struct{})} }

// notify wakes all waiters; p.mu must be held.
func (p *pipe) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *pipe) update(f func()) {
	p.mu.Lock()
	f()
	p.notify()
	p.mu.Unlock()
}

// deadline is a settable deadline whose expiry closes a channel, in the
// manner of net.Pipe: set(zero) clears it, a past time expires it at once.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{}
}

func newDeadline() *deadline { return &deadline{expired: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.expired // the timer fired (or is firing): wait for it to close the channel
	}
	d.timer = nil
	closed := isClosed(d.expired)
	if t.IsZero() {
		if closed {
			d.expired = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.expired = make(chan struct{})
		}
		ch := d.expired
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	if !closed {
		close(d.expired)
	}
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Conn is one end of an in-memory stream. It is a net.Conn that also
// supports CloseWrite (half-close, as *net.TCPConn) and CloseRead. Its
// LocalAddr and RemoteAddr are i2pnet.Addr values.
type Conn struct {
	r, w          *pipe // r: bytes for us to read, w: bytes we write
	local, remote i2pnet.Addr
	rd, wd        *deadline

	closeOnce sync.Once
	closed    chan struct{}
	onClose   func(*Conn) // unregisters the conn from its session
}

// newStream returns the two connected ends of a stream.
func newStream(dialer, acceptor i2pnet.Addr) (d, a *Conn) {
	ab, ba := newPipe(), newPipe()
	d = &Conn{r: ba, w: ab, local: dialer, remote: acceptor, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{})}
	a = &Conn{r: ab, w: ba, local: acceptor, remote: dialer, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{})}
	return d, a
}

// Read reads buffered bytes, blocking until some arrive, the writer
// half-closes (io.EOF once drained), the stream is reset, the deadline
// passes or this end is closed.
func (c *Conn) Read(b []byte) (int, error) {
	for {
		select {
		case <-c.closed:
			return 0, net.ErrClosed
		case <-c.rd.wait():
			return 0, os.ErrDeadlineExceeded
		default:
		}
		p := c.r
		p.mu.Lock()
		switch {
		case p.err != nil:
			err := p.err
			p.mu.Unlock()
			return 0, err
		case len(p.buf) > 0:
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			if len(p.buf) == 0 {
				p.buf = p.buf[:0:0] // let the backing array go
			}
			p.notify()
			p.mu.Unlock()
			return n, nil
		case p.eof, p.broken: // broken: we called CloseRead
			p.mu.Unlock()
			return 0, io.EOF
		case len(b) == 0:
			p.mu.Unlock()
			return 0, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-c.closed:
		case <-c.rd.wait():
		}
	}
}

// Write writes all of b, blocking while the other side's window is full.
func (c *Conn) Write(b []byte) (int, error) {
	n := 0
	for {
		select {
		case <-c.closed:
			return n, net.ErrClosed
		case <-c.wd.wait():
			return n, os.ErrDeadlineExceeded
		default:
		}
		p := c.w
		p.mu.Lock()
		switch {
		case p.err != nil:
			err := p.err
			p.mu.Unlock()
			return n, err
		case p.eof:
			p.mu.Unlock()
			return n, errWriteClosed
		case p.broken:
			p.mu.Unlock()
			return n, io.ErrClosedPipe
		}
		if room := windowSize - len(p.buf); room > 0 {
			k := min(room, len(b)-n)
			p.buf = append(p.buf, b[n:n+k]...)
			n += k
			p.notify()
		}
		if n == len(b) {
			p.mu.Unlock()
			return n, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-c.closed:
		case <-c.wd.wait():
		}
	}
}

// CloseWrite half-closes the stream: the peer reads the buffered bytes,
// then io.EOF; this end can still read.
func (c *Conn) CloseWrite() error {
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	c.w.update(func() { c.w.eof = true })
	return nil
}

// CloseRead stops reading: the peer's writes fail from now on.
func (c *Conn) CloseRead() error {
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	c.r.update(func() { c.r.broken = true })
	return nil
}

// Close closes this end: the peer reads what was written, then io.EOF, and
// its writes fail. Blocked calls on this end return net.ErrClosed.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = nil
		close(c.closed)
		c.w.update(func() { c.w.eof = true })
		c.r.update(func() { c.r.broken = true; c.r.buf = nil })
		if c.onClose != nil {
			c.onClose(c)
		}
	})
	return err
}

// reset kills the stream for both ends: this end is closed, the peer's
// reads and writes fail with err.
func (c *Conn) reset(err error) {
	c.w.update(func() {
		if c.w.err == nil {
			c.w.err = err
		}
	})
	c.r.update(func() {
		if c.r.err == nil {
			c.r.err = err
		}
	})
	c.Close()
}

// LocalAddr returns this end's i2pnet.Addr.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the other end's i2pnet.Addr.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wd.set(t)
	return nil
}
