package streaming

import (
	"fmt"
	"io"
	"net"
	"time"
)

// The application side of a Conn: net.Conn, CloseWrite, Done, Err, Stats.
// These only exchange bytes and requests with the run loop under c.mu.

// Read reads in-order data. After the peer's CLOSE and all its data it
// returns io.EOF; after a RESET or a failure, the buffered data and then
// the error.
func (c *Conn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed:
			return 0, fmt.Errorf("streaming: read: %w", net.ErrClosed)
		case isClosed(c.rdl.done()):
			return 0, &timeoutError{"read"}
		case c.rq.len() > 0:
			n := c.rq.read(b)
			if c.wantRead && c.rq.len() < c.m.cfg.MaxReceiveBuffer/4 {
				c.wantRead = false
				c.wakeLoop()
			}
			return n, nil
		case c.rEOF:
			return 0, io.EOF
		case c.ended:
			if c.err == nil {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("streaming: read: %w", c.err)
		case len(b) == 0:
			return 0, nil
		}
		ch, dl := c.readCh, c.rdl.done()
		c.mu.Unlock()
		select {
		case <-ch:
		case <-dl:
		}
		c.mu.Lock()
	}
}

// Write queues b for sending; it blocks while MaxSendBuffer bytes are
// queued. It returns once b is queued, not when it is acknowledged.
func (c *Conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	written := 0
	for {
		switch {
		case c.closed:
			return written, fmt.Errorf("streaming: write: %w", net.ErrClosed)
		case c.wShut:
			return written, fmt.Errorf("streaming: write: %w", ErrWriteClosed)
		case c.ended:
			err := c.err
			if err == nil {
				err = ErrWriteClosed
			}
			return written, fmt.Errorf("streaming: write: %w", err)
		case isClosed(c.wdl.done()):
			return written, &timeoutError{"write"}
		}
		if room := c.m.cfg.MaxSendBuffer - c.wq.len(); room > 0 {
			n := min(room, len(b)-written)
			c.wq.write(b[written : written+n])
			written += n
			c.wakeLoop()
			if written == len(b) {
				return written, nil
			}
			continue
		}
		ch, dl := c.writeCh, c.wdl.done()
		c.mu.Unlock()
		select {
		case <-ch:
		case <-dl:
		}
		c.mu.Lock()
	}
}

// CloseWrite shuts the sending direction: queued data is still delivered,
// followed by a CLOSE, while reading goes on (a TCP half-close). i2pd 2.45
// has no half-close: when it receives a CLOSE it answers CLOSE and drops
// the stream, so toward i2pd this ends both directions.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("streaming: close write: %w", net.ErrClosed)
	}
	c.wShut = true
	c.wakeWriters()
	c.mu.Unlock()
	c.wakeLoop()
	return nil
}

// Close closes both directions and returns at once. In the background the
// stream still delivers queued data and exchanges CLOSE with the peer for
// up to CloseTimeout, then resets; data arriving meanwhile is acknowledged
// and dropped.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("streaming: close: %w", net.ErrClosed)
	}
	c.closed, c.wShut = true, true
	c.rq.release()
	c.wakeReaders()
	c.wakeWriters()
	c.mu.Unlock()
	c.rdl.stop()
	c.wdl.stop()
	c.wakeLoop()
	return nil
}

// LocalAddr is our destination and the port the stream was opened on.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr is the peer's destination (from its SYN's FROM for accepted
// streams) and port.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	c.wakeAll()
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wakeAll()
	return nil
}

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	c.wakeAll()
	return nil
}

// wakeAll makes blocked calls re-read their deadline channels.
func (c *Conn) wakeAll() {
	c.mu.Lock()
	c.wakeReaders()
	c.wakeWriters()
	c.mu.Unlock()
}

// Done is closed when the stream has ended and its goroutine is gone.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the stream ended: nil while it runs or after a clean close.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Stats returns the stream's counters.
func (c *Conn) Stats() ConnStats {
	return ConnStats{
		PacketsSent:     c.stats.sent.Load(),
		Retransmissions: c.stats.resent.Load(),
		PacketsReceived: c.stats.received.Load(),
		Duplicates:      c.stats.dups.Load(),
		Dropped:         c.stats.dropped.Load(),
		Window:          int(c.stats.window.Load()),
		RTT:             time.Duration(c.stats.rtt.Load()),
		RTO:             time.Duration(c.stats.rto.Load()),
	}
}
