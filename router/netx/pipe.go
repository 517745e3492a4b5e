package netx

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// DefaultPipeBuffer is how many bytes each direction of a Mem connection
// holds before Write blocks: roughly a TCP socket's buffers, so that two
// peers that both write before they read (an NTCP2 Termination crossing a
// data frame) do not deadlock as they would on net.Pipe, which has none.
const DefaultPipeBuffer = 256 << 10

// halfPipe is one direction of a connection: a bounded byte queue with one
// writing end and one reading end.
type halfPipe struct {
	mu       sync.Mutex
	buf      []byte
	max      int
	wclosed  bool          // the writer closed: the reader sees EOF once buf is empty
	rclosed  bool          // the reader closed: the writer sees EPIPE
	readable chan struct{} // capacity 1: data arrived or wclosed
	writable chan struct{} // capacity 1: room appeared or rclosed
}

func newHalfPipe(max int) *halfPipe {
	return &halfPipe{max: max, readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// deadline is a settable point in time that closes a channel when it
// passes, the form a select can wait on.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	c     chan struct{} // closed once the deadline has passed
}

func newDeadline() *deadline { return &deadline{c: make(chan struct{})} }

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// set moves the deadline; the zero time removes it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if isClosed(d.c) {
		d.c = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.c)
		return
	}
	c := d.c
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		// A timer that was stopped too late must not expire a newer
		// deadline: only the channel it was armed for is closed.
		if d.c == c && !isClosed(c) {
			close(c)
		}
	})
}

// wait returns the channel that closes when the current deadline passes.
func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.c
}

// memConn is one end of an in-memory TCP-like connection: reads come from
// rx, writes go to tx, and the peer has them the other way round.
type memConn struct {
	rx, tx        *halfPipe
	local, remote *net.TCPAddr
	rdl, wdl      *deadline
	closeOnce     sync.Once
	done          chan struct{} // closed by Close
}

// newPipe returns the two connected ends; a is the dialler's.
func newPipe(aAddr, bAddr *net.TCPAddr, size int) (a, b *memConn) {
	ab, ba := newHalfPipe(size), newHalfPipe(size)
	a = &memConn{rx: ba, tx: ab, local: aAddr, remote: bAddr, rdl: newDeadline(), wdl: newDeadline(), done: make(chan struct{})}
	b = &memConn{rx: ab, tx: ba, local: bAddr, remote: aAddr, rdl: newDeadline(), wdl: newDeadline(), done: make(chan struct{})}
	return a, b
}

func (c *memConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: err}
}

// Read implements net.Conn. It returns what is buffered, or waits for data,
// the peer's Close (io.EOF), our Close or the read deadline.
func (c *memConn) Read(b []byte) (int, error) {
	p := c.rx
	for {
		if isClosed(c.done) {
			return 0, c.opError("read", net.ErrClosed)
		}
		// A passed deadline fails even when data is waiting, as on a
		// socket.
		dl := c.rdl.wait()
		if isClosed(dl) {
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		}
		p.mu.Lock()
		if len(p.buf) > 0 {
			if len(b) == 0 {
				p.mu.Unlock()
				return 0, nil
			}
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			if len(p.buf) == 0 {
				p.buf = nil // let the backing array go
			} else {
				signal(p.readable) // another reader may take the rest
			}
			signal(p.writable)
			p.mu.Unlock()
			return n, nil
		}
		if p.wclosed {
			p.mu.Unlock()
			return 0, io.EOF
		}
		p.mu.Unlock()
		select {
		case <-p.readable:
		case <-dl:
		case <-c.done:
		}
	}
}

// Write implements net.Conn. It copies b into the peer's buffer as room
// allows, blocking while it is full, until the peer closes (EPIPE), we
// close, or the write deadline passes; n counts the bytes taken.
func (c *memConn) Write(b []byte) (int, error) {
	p := c.tx
	written := 0
	for {
		if isClosed(c.done) {
			return written, c.opError("write", net.ErrClosed)
		}
		dl := c.wdl.wait()
		if isClosed(dl) {
			return written, c.opError("write", os.ErrDeadlineExceeded)
		}
		p.mu.Lock()
		if p.rclosed {
			p.mu.Unlock()
			return written, c.opError("write", syscall.EPIPE)
		}
		if room := p.max - len(p.buf); room > 0 && len(b) > 0 {
			n := min(room, len(b))
			p.buf = append(p.buf, b[:n]...)
			b = b[n:]
			written += n
			signal(p.readable)
			if room > n {
				signal(p.writable) // another writer may use the rest
			}
		}
		p.mu.Unlock()
		if len(b) == 0 {
			return written, nil
		}
		select {
		case <-p.writable:
		case <-dl:
		case <-c.done:
		}
	}
}

// Close implements net.Conn: the peer reads what was already written, then
// io.EOF; its writes fail from now on, like writes to a closed TCP socket.
func (c *memConn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.done)
		c.tx.mu.Lock()
		c.tx.wclosed = true
		signal(c.tx.readable)
		c.tx.mu.Unlock()
		c.rx.mu.Lock()
		c.rx.rclosed = true
		c.rx.buf = nil
		signal(c.rx.writable)
		c.rx.mu.Unlock()
		c.rdl.set(time.Time{})
		c.wdl.set(time.Time{})
	})
	if !first {
		return c.opError("close", net.ErrClosed)
	}
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

func (c *memConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *memConn) SetReadDeadline(t time.Time) error  { c.rdl.set(t); return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }
