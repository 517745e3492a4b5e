package sam

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// connState is what a client socket is for. The handler goroutine owns it.
//
//	connHello ──HELLO VERSION agreed──▶ connIdle
//	connHello ──anything else, NOVERSION, timeout──▶ connClosed
//	connIdle ──SESSION CREATE──▶ connSession (while the session is built too;
//	                             back to connIdle when it cannot be)
//	connSession ──SESSION ADD/REMOVE on a PRIMARY's socket──▶ connSession
//	connIdle ──STREAM CONNECT answered OK──▶ connStream
//	connIdle ──STREAM ACCEPT answered OK──▶ connAccepting ──a stream arrives──▶ connStream
//	connIdle ──STREAM FORWARD answered OK──▶ connForwarding
//	connStream ──either side ends the stream──▶ connClosed
//	any ──QUIT/STOP/EXIT, EOF, a failed STREAM command, its session's end──▶ connClosed
//
// connIdle, connSession and connForwarding read command lines; a failed
// command there is answered and the socket stays (a failed STREAM CONNECT
// or ACCEPT closes it, as samv3.html says). Closing a connSession socket
// ends its session (a PRIMARY's with all its subsessions); closing a
// connForwarding one ends the forwarding.
type connState uint8

const (
	connHello connState = iota
	connIdle
	connSession
	connStream
	connAccepting
	connForwarding
	connClosed
)

var connStateNames = [...]string{
	connHello:      "hello",
	connIdle:       "idle",
	connSession:    "session",
	connStream:     "stream",
	connAccepting:  "accepting",
	connForwarding: "forwarding",
	connClosed:     "closed",
}

func (s connState) String() string {
	if int(s) < len(connStateNames) {
		return connStateNames[s]
	}
	return fmt.Sprintf("connState(%d)", uint8(s))
}

// conn is one client socket.
type conn struct {
	s   *Server
	nc  net.Conn
	br  *bufio.Reader
	log *slog.Logger

	// Owned by the handler goroutine (and, once streaming, by the copy
	// goroutine it starts).
	state   connState
	version version
	sess    *session // connSession: the session this socket controls
	fwd     *forward // connForwarding: the forwarding this socket keeps
	peek    *peek    // the running or last unread watch
	// lastWords are the first two words of the last line read, so that
	// a line that does not parse is still answered in its command's
	// family.
	lastWords [2]string

	wmu sync.Mutex // one writer at a time: replies and received datagrams
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		s:   s,
		nc:  nc,
		br:  bufio.NewReaderSize(nc, MaxLineLen),
		log: s.log.With("conn", fmt.Sprintf("%p", nc)),
	}
}

// run serves the socket until it closes.
func (c *conn) run(ctx context.Context) {
	c.log.Debug("sam: client connected", "remote", c.nc.RemoteAddr())
	defer c.finish()
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.HelloTimeout))
	for c.state != connClosed {
		l, err := c.readLine()
		switch {
		case errors.Is(err, ErrEmptyLine):
			continue
		case errors.Is(err, ErrSyntax) || errors.Is(err, ErrLineTooLong):
			c.replyError(c.errorVerb(c.lastWords), err.Error())
			if errors.Is(err, ErrLineTooLong) {
				return // the rest of the line would be read as commands
			}
			if c.state == connHello {
				return // no HELLO, no conversation (as a wrong command)
			}
			continue
		case err != nil:
			var ne net.Error
			if c.state == connHello && errors.As(err, &ne) && ne.Timeout() {
				c.reply(Line{Verb: "HELLO", Sub: "REPLY", Args: []Arg{{"RESULT", "I2P_ERROR"}, {"MESSAGE", "no HELLO within " + c.s.cfg.HelloTimeout.String()}}})
			}
			c.log.Debug("sam: client gone", "state", c.state, "err", err)
			return
		}
		c.dispatch(ctx, l)
	}
}

// finish closes the socket and undoes what it held.
func (c *conn) finish() {
	c.nc.Close()
	if c.sess != nil {
		c.sess.close()
	}
	if c.fwd != nil {
		c.fwd.sess.stopForward(c.fwd)
	}
	c.state = connClosed
	c.s.removeConn(c)
}

// readLine reads and parses the next command line.
func (c *conn) readLine() (Line, error) {
	c.waitPeek()
	b, err := c.br.ReadSlice('\n')
	c.lastWords = firstWords(b)
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		if len(b) > 0 && errors.Is(err, io.EOF) {
			return Line{}, fmt.Errorf("%w: connection closed inside a line", ErrIncomplete)
		}
		return Line{}, err
	}
	l, _, perr := ParseLine(b)
	return l, perr
}

// firstWords returns up to two words of a raw line, upper-cased.
func firstWords(b []byte) [2]string {
	var w [2]string
	f := strings.Fields(string(b[:min(len(b), 64)]))
	for i := 0; i < len(f) && i < 2; i++ {
		w[i] = strings.ToUpper(f[i])
	}
	return w
}

// peek is one watch: done closes when the client sent more or went
// away, and err (readable after done) says which.
type peek struct {
	done chan struct{}
	err  error
}

// watch starts noticing, without consuming anything, when the client
// sends more or goes away. Long commands (SESSION CREATE, STREAM CONNECT
// and ACCEPT, NAMING LOOKUP) watch so that a client that hangs up cancels
// them. Only one watch runs; readers wait for it (waitPeek) before
// touching br.
func (c *conn) watch() *peek {
	if c.peek == nil {
		p := &peek{done: make(chan struct{})}
		c.peek = p
		go func() {
			_, p.err = c.br.Peek(1)
			close(p.done)
		}()
	}
	return c.peek
}

// waitPeek waits for a running watch to end, so that br has one reader.
func (c *conn) waitPeek() {
	if c.peek != nil {
		<-c.peek.done
		c.peek = nil
	}
}

// watchCancel returns a context that ends with ctx or when the client
// hangs up, for a command that waits on the network.
func (c *conn) watchCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	p := c.watch()
	go func() {
		select {
		case <-p.done:
			if p.err != nil {
				cancel()
			}
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// clientGone reports whether a finished watch saw the socket end.
func (c *conn) clientGone() bool {
	if c.peek == nil {
		return false
	}
	select {
	case <-c.peek.done:
		return c.peek.err != nil
	default:
		return false
	}
}

// write sends b whole; replies and received datagrams share the socket.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// reply writes one line.
func (c *conn) reply(l Line) error {
	b, err := AppendReply(nil, l)
	if err != nil {
		// Values come from us or were parsed from a valid line, so this
		// is a bug; say so rather than write half a line.
		c.log.Error("sam: cannot format reply", "err", err)
		b = []byte(l.Verb + " " + l.Sub + " RESULT=I2P_ERROR MESSAGE=\"internal error\"\n")
	}
	if err := c.write(b); err != nil {
		c.log.Debug("sam: write failed", "err", err)
		return err
	}
	return nil
}

// status writes "<verb> <sub> RESULT=<result> [MESSAGE=<msg>]" followed
// by extra.
func (c *conn) status(verb [2]string, result, msg string, extra ...Arg) error {
	args := []Arg{{"RESULT", result}}
	args = append(args, extra...)
	if msg != "" {
		args = append(args, Arg{"MESSAGE", msg})
	}
	return c.reply(Line{Verb: verb[0], Sub: verb[1], Args: args})
}

// replyError answers RESULT=I2P_ERROR with msg.
func (c *conn) replyError(verb [2]string, msg string) error {
	c.log.Debug("sam: command failed", "reply", verb, "err", msg)
	return c.status(verb, "I2P_ERROR", msg)
}

// Reply lines by command family.
var (
	helloReply    = [2]string{"HELLO", "REPLY"}
	sessionStatus = [2]string{"SESSION", "STATUS"}
	streamStatus  = [2]string{"STREAM", "STATUS"}
	namingReply   = [2]string{"NAMING", "REPLY"}
	destReply     = [2]string{"DEST", "REPLY"}
	datagramError = [2]string{"DATAGRAM", "STATUS"}
	rawError      = [2]string{"RAW", "STATUS"}
)

// errorVerb picks the reply line for a command that failed before its
// handler ran: the one its client waits for. SESSION STATUS is the
// generic answer, as in i2pd and samv3.html "Timeouts".
func (c *conn) errorVerb(words [2]string) [2]string {
	if c.state == connHello {
		return helloReply
	}
	switch words[0] {
	case "HELLO":
		return helloReply
	case "STREAM":
		return streamStatus
	case "NAMING":
		return namingReply
	case "DEST":
		return destReply
	case "DATAGRAM":
		return datagramError
	case "RAW":
		return rawError
	}
	return sessionStatus
}

// commands lists what dispatch knows, for the unknown-command message.
const commands = "HELLO VERSION, SESSION CREATE|ADD|REMOVE, STREAM CONNECT|ACCEPT|FORWARD, DATAGRAM SEND, RAW SEND, NAMING LOOKUP, DEST GENERATE, PING, QUIT"

// dispatch runs one command. Commands and sub-commands are matched in
// any case (samv3.html "Case Sensitivity" recommends it); keys and values
// are not touched.
func (c *conn) dispatch(ctx context.Context, l Line) {
	verb, sub := strings.ToUpper(l.Verb), strings.ToUpper(l.Sub)
	if c.state == connHello {
		if verb != "HELLO" || sub != "VERSION" {
			c.replyError(helloReply, fmt.Sprintf("expected HELLO VERSION, got %s", strings.TrimSpace(verb+" "+sub)))
			c.state = connClosed
			return
		}
		c.hello(l)
		return
	}
	switch verb {
	case "PING":
		c.reply(Line{Verb: "PONG", Text: l.Text})
		return
	case "PONG":
		return // we send no PINGs; a stray PONG is harmless
	case "QUIT", "STOP", "EXIT":
		c.state = connClosed
		return
	}
	switch verb + " " + sub {
	case "HELLO VERSION":
		c.replyError(helloReply, "HELLO was already answered on this socket")
	case "SESSION CREATE":
		c.sessionCreate(ctx, l)
	case "SESSION ADD":
		c.sessionAdd(l)
	case "SESSION REMOVE":
		c.sessionRemove(l)
	case "STREAM CONNECT":
		c.streamConnect(ctx, l)
	case "STREAM ACCEPT":
		c.streamAccept(ctx, l)
	case "STREAM FORWARD":
		c.streamForward(l)
	case "DATAGRAM SEND":
		c.datagramSend(ctx, l, false)
	case "RAW SEND":
		c.datagramSend(ctx, l, true)
	case "NAMING LOOKUP":
		c.namingLookup(ctx, l)
	case "DEST GENERATE":
		c.destGenerate(l)
	default:
		c.replyError(c.errorVerb([2]string{verb, sub}), fmt.Sprintf("unknown command %q; known: %s", strings.TrimSpace(l.Verb+" "+l.Sub), commands))
	}
}

// hello negotiates the version (samv3.html "SAM Connection Handshake").
// USER/PASSWORD are ignored: this server has no authorization, which the
// spec makes optional.
func (c *conn) hello(l Line) {
	minS, hasMin := l.Get("MIN")
	maxS, hasMax := l.Get("MAX")
	v, ok, err := negotiate(minS, maxS, hasMin && minS != "", hasMax && maxS != "")
	switch {
	case err != nil:
		c.replyError(helloReply, err.Error())
		c.state = connClosed
	case !ok:
		c.status(helloReply, "NOVERSION", fmt.Sprintf("this bridge speaks SAM %s to %s", minVersion, maxVersion))
		c.state = connClosed
	default:
		c.nc.SetReadDeadline(time.Time{})
		c.version = v
		c.state = connIdle
		c.status(helloReply, "OK", "", Arg{"VERSION", v.String()})
	}
}

// requireIdle refuses a command that gives the socket a role when it
// already has one (i2pd: "Socket already in use").
func (c *conn) requireIdle(verb [2]string) bool {
	if c.state == connIdle {
		return true
	}
	msg := fmt.Sprintf("this socket is already in use (%s); open a new socket for this command", c.state)
	if c.sess != nil {
		msg = fmt.Sprintf("this socket controls session %q; open a new socket for this command", c.sess.id)
	}
	c.replyError(verb, msg)
	return false
}
