package samnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"i2pbridge/bridge/samnet/samline"
)

// maxLineLen bounds one SAM line. The longest lines are SESSION STATUS and
// DEST REPLY with a private key (under 2 KiB for every signature type);
// the bound keeps a confused bridge from growing our memory.
const maxLineLen = 32 << 10

// samConn is one TCP connection to the SAM bridge. Lines are read through
// r; after a STREAM CONNECT/ACCEPT handshake r may already hold stream
// bytes that arrived in the same segment as the status line, so stream
// reads drain r before touching the socket.
type samConn struct {
	net.Conn
	r *bufio.Reader
}

func newSAMConn(c net.Conn) *samConn {
	return &samConn{Conn: c, r: bufio.NewReaderSize(c, 4096)}
}

// readLine reads one '\n'-terminated line, however the bridge split it
// across segments.
func (c *samConn) readLine() (string, error) {
	var line []byte
	for {
		frag, err := c.r.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxLineLen {
			return "", fmt.Errorf("%w: line longer than %d bytes", ErrProtocol, maxLineLen)
		}
		switch {
		case err == nil:
			return string(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return "", fmt.Errorf("%w: connection closed inside a line: %w", ErrProtocol, io.ErrUnexpectedEOF)
		default:
			return "", err
		}
	}
}

// readMsg reads and parses one line.
func (c *samConn) readMsg() (samline.Message, error) {
	line, err := c.readLine()
	if err != nil {
		return samline.Message{}, err
	}
	m, err := samline.Parse(line)
	if err != nil {
		return samline.Message{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return m, nil
}

// writeMsg formats and writes one line in a single Write, so a bridge that
// reads one segment per command (i2pd) sees the whole command.
func (c *samConn) writeMsg(m samline.Message, v version) error {
	b, err := m.Append(nil, v.hasQuoting())
	if err != nil {
		return err
	}
	_, err = c.Write(b)
	return err
}

// expect checks that m is the reply verb/sub a command waits for.
func expect(m samline.Message, verb, sub string) error {
	if !m.Is(verb, sub) {
		return fmt.Errorf("%w: expected %s %s, got %q", ErrProtocol, verb, sub, m.String())
	}
	return nil
}

// replyErr turns a non-OK reply into a *ReplyError (nil for RESULT=OK).
func replyErr(op string, m samline.Message) error {
	res := m.Value("RESULT")
	if res == ResultOK {
		return nil
	}
	if res == "" {
		return fmt.Errorf("%w: %s reply without RESULT: %q", ErrProtocol, op, m.String())
	}
	return &ReplyError{Op: op, Result: res, Message: m.Value("MESSAGE")}
}

// bindCtx makes blocking I/O on c return when ctx ends, by moving the
// deadline into the past. The returned release must be called before c is
// used without ctx; it reports ctx's error if ctx won the race, in which
// case c is unusable.
func bindCtx(ctx context.Context, c net.Conn) (release func() error) {
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	return func() error {
		if !stop() && ctx.Err() != nil {
			return ctx.Err()
		}
		_ = c.SetDeadline(time.Time{})
		return nil
	}
}

// ctxErr prefers ctx's error over the I/O timeout that bindCtx caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// streamConn is one I2P stream: a SAM socket after a successful STREAM
// CONNECT or ACCEPT. It is a net.Conn whose addresses are I2P addresses.
type streamConn struct {
	*samConn
	local, remote net.Addr
	onClose       func()
	closeOnce     sync.Once
	closeErr      error
}

// Read serves bytes that came in with the handshake reply first.
func (c *streamConn) Read(p []byte) (int, error) {
	if c.r.Buffered() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}

// streamConn deliberately has no CloseWrite: i2pd ends the whole I2P
// stream when its SAM socket reads EOF, so a half-close would cut off the
// peer's response. Without it, bridge/relay keeps the other direction
// flowing and closes both once it has gone quiet.

func (c *streamConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		if c.onClose != nil {
			c.onClose()
		}
	})
	return c.closeErr
}

func (c *streamConn) LocalAddr() net.Addr  { return c.local }
func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

// NameAddr is the RemoteAddr of a stream dialed by a .b32.i2p name: the
// router resolved it, so the full Destination is not known here.
type NameAddr struct {
	Name string // "xxxx.b32.i2p"
	Port int    // 0 when the version carries no ports
}

// Network returns "i2p".
func (a NameAddr) Network() string { return "i2p" }

func (a NameAddr) String() string {
	if a.Port != 0 {
		return fmt.Sprintf("%s:%d", a.Name, a.Port)
	}
	return a.Name
}
