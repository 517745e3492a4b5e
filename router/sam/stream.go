package sam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"i2pbridge/router/data"
	"i2pbridge/router/destination"
	"i2pbridge/router/streaming"
)

var errUnknownHost = errors.New("unknown host name")

// address resolves DESTINATION= of STREAM CONNECT and the datagram
// commands: a base64 Destination, a .b32.i2p name (hash only; the
// destination comes with its LeaseSet) or a host name from Config.Hosts.
func (s *Server) address(v string) (data.Destination, data.Hash, error) {
	lower := strings.ToLower(v)
	if strings.HasSuffix(lower, ".i2p") && !strings.HasSuffix(lower, data.B32Suffix) {
		if s.cfg.Hosts != nil {
			if d, ok := s.cfg.Hosts(v); ok {
				return d, d.Hash(), nil
			}
		}
		return data.Destination{}, data.Hash{}, fmt.Errorf("%w: %s", errUnknownHost, v)
	}
	return parseAddress(v)
}

// streamConnect runs STREAM CONNECT (samv3.html "SAM Virtual Streams:
// CONNECT"). On success the socket becomes the stream; on failure it is
// answered (unless SILENT) and closed. Bytes the client sends before the
// answer are kept and sent first, as i2pd does.
func (c *conn) streamConnect(ctx context.Context, l Line) {
	if !c.requireIdle(streamStatus) {
		return
	}
	silent, serr := parseBool(l, "SILENT", false)
	fail := func(result, msg string) {
		c.log.Debug("sam: STREAM CONNECT failed", "result", result, "err", msg)
		if !silent {
			c.status(streamStatus, result, msg)
		}
		c.state = connClosed
	}
	if serr != nil {
		fail("I2P_ERROR", serr.Error())
		return
	}
	sess, err := c.s.session(l.Value("ID"))
	if err != nil {
		fail("INVALID_ID", err.Error())
		return
	}
	if err := sess.takes(styleStream); err != nil {
		fail("I2P_ERROR", err.Error())
		return
	}
	target := l.Value("DESTINATION")
	if target == "" {
		fail("INVALID_KEY", "DESTINATION is missing")
		return
	}
	dest, hash, err := c.s.address(target)
	if err != nil {
		fail("INVALID_KEY", err.Error())
		return
	}
	// FROM_PORT is checked but not carried: the streaming library opens
	// streams from port 0.
	if _, err := parseInt(l, "FROM_PORT", 0, 65535, 0); err != nil {
		fail("I2P_ERROR", err.Error())
		return
	}
	toPort, err := parseInt(l, "TO_PORT", 0, 65535, int(sess.toPort))
	if err != nil {
		fail("I2P_ERROR", err.Error())
		return
	}

	dctx, cancel := context.WithTimeout(ctx, c.s.cfg.ConnectTimeout)
	defer cancel()
	// A subsession's destination outlives it: end the dial with it.
	defer cancelOn(sess.done, cancel)()
	wctx, wcancel := c.watchCancel(dctx)
	defer wcancel()
	var st *streaming.Conn
	if dest.IsZero() {
		st, err = sess.client.Dest.Dial(wctx, hash, uint16(toPort))
	} else {
		st, err = sess.client.Dest.DialDestination(wctx, dest, uint16(toPort))
	}
	if err != nil {
		switch {
		case c.clientGone():
			c.state = connClosed
		case errors.Is(err, context.DeadlineExceeded):
			fail("TIMEOUT", fmt.Sprintf("no answer from %s within %v", hash.Short(), c.s.cfg.ConnectTimeout))
		case errors.Is(err, destination.ErrClosed) || sess.getState() == sessClosed:
			fail("I2P_ERROR", "session closed")
		default:
			fail("CANT_REACH_PEER", err.Error())
		}
		return
	}
	if !silent {
		if err := c.status(streamStatus, "OK", ""); err != nil {
			st.Close()
			c.state = connClosed
			return
		}
	}
	c.log.Debug("sam: stream connected", "session", sess.id, "to", hash.Short())
	c.state = connStream
	splice(sess.done, c.nc, peekedReader{c}, st)
	c.state = connClosed
}

// streamAccept runs STREAM ACCEPT (samv3.html "SAM Virtual Streams:
// ACCEPT"): STATUS at once, then, when a stream arrives, the peer's
// destination line (unless SILENT) and the stream. Any number may wait on
// one session (SAM 3.2), also for older clients.
func (c *conn) streamAccept(ctx context.Context, l Line) {
	if !c.requireIdle(streamStatus) {
		return
	}
	silent, serr := parseBool(l, "SILENT", false)
	fail := func(result, msg string) {
		if !silent {
			c.status(streamStatus, result, msg)
		}
		c.state = connClosed
	}
	if serr != nil {
		fail("I2P_ERROR", serr.Error())
		return
	}
	sess, err := c.s.session(l.Value("ID"))
	if err != nil {
		fail("INVALID_ID", err.Error())
		return
	}
	if err := sess.takes(styleStream); err != nil {
		fail("I2P_ERROR", err.Error())
		return
	}
	if err := sess.startAccept(); err != nil {
		fail("I2P_ERROR", err.Error())
		return
	}
	st := c.awaitStream(ctx, sess, silent)
	sess.endAccept()
	if st == nil {
		c.state = connClosed
		return
	}
	if !silent {
		if err := c.write(peerLine(st, c.version.hasPorts())); err != nil {
			st.Close()
			c.state = connClosed
			return
		}
	}
	c.log.Debug("sam: stream accepted", "session", sess.id)
	c.state = connStream
	splice(sess.done, c.nc, peekedReader{c}, st)
	c.state = connClosed
}

// awaitStream answers an ACCEPT and waits for its stream; nil when the
// client, the session or the server went first.
func (c *conn) awaitStream(ctx context.Context, sess *session, silent bool) *streaming.Conn {
	if !silent {
		if err := c.status(streamStatus, "OK", ""); err != nil {
			return nil
		}
	}
	c.state = connAccepting
	req := acceptReq{ch: make(chan *streaming.Conn, 1)}
	p := c.watch()
	watch := p.done
	for {
		select {
		case sess.acceptq <- req:
			return <-req.ch
		case <-watch:
			if p.err != nil {
				return nil
			}
			watch = nil // early bytes for the stream: kept in br
		case <-sess.done:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// peerLine is the line before an accepted or forwarded stream: the
// peer's base64 destination, with the I2P ports for SAM 3.2+.
func peerLine(st *streaming.Conn, ports bool) []byte {
	remote, _ := st.RemoteAddr().(streaming.Addr)
	b := []byte(remote.Dest.Base64())
	if ports {
		local, _ := st.LocalAddr().(streaming.Addr)
		b = append(b, " FROM_PORT="+strconv.Itoa(remote.Port)+" TO_PORT="+strconv.Itoa(local.Port)...)
	}
	return append(b, '\n')
}

// streamForward runs STREAM FORWARD (samv3.html "SAM Virtual Streams:
// FORWARD"): every incoming stream of the session is connected to
// HOST:PORT until this socket closes. STATUS is written even with
// SILENT=true, as the spec says.
func (c *conn) streamForward(l Line) {
	if !c.requireIdle(streamStatus) {
		return
	}
	fail := func(result, msg string) {
		c.status(streamStatus, result, msg)
		c.state = connClosed
	}
	sess, err := c.s.session(l.Value("ID"))
	if err != nil {
		fail("INVALID_ID", err.Error())
		return
	}
	if err := sess.takes(styleStream); err != nil {
		fail("I2P_ERROR", err.Error())
		return
	}
	if _, ok := l.Get("PORT"); !ok {
		fail("I2P_ERROR", "PORT is missing")
		return
	}
	port, err := parseInt(l, "PORT", 1, 65535, 0)
	if err != nil {
		fail("I2P_ERROR", err.Error())
		return
	}
	silent, err := parseBool(l, "SILENT", false)
	if err != nil {
		fail("I2P_ERROR", err.Error())
		return
	}
	if tls, err := parseBool(l, "SSL", false); err != nil || tls {
		fail("I2P_ERROR", "SSL=true is not supported")
		return
	}
	host := l.Value("HOST")
	if host == "" {
		host = remoteIP(c.nc)
	}
	f := &forward{sess: sess, addr: net.JoinHostPort(host, strconv.Itoa(port)), silent: silent, ports: c.version.hasPorts()}
	if err := sess.startForward(f); err != nil {
		fail("I2P_ERROR", err.Error())
		return
	}
	c.fwd, c.state = f, connForwarding
	// The forwarding ends with its socket, and the socket with the
	// session (i2pd closes every socket of a session).
	nc := c.nc
	if !sess.spawn(func() {
		select {
		case <-sess.done:
			nc.Close()
		case <-f.gone():
		}
	}) {
		nc.Close()
	}
	c.status(streamStatus, "OK", "")
}

// gone is closed when f is no longer the session's forwarding.
func (f *forward) gone() <-chan struct{} {
	f.sess.mu.Lock()
	defer f.sess.mu.Unlock()
	if f.sess.fwd != f {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return f.sess.fwdChange
}

// serve connects one incoming stream to the forwarding address; a stream
// whose connection fails is reset.
func (f *forward) serve(st *streaming.Conn) {
	nc, err := net.DialTimeout("tcp", f.addr, ForwardDialTimeout)
	if err != nil {
		f.sess.log.Debug("sam: FORWARD target refused a stream", "err", err)
		st.Close()
		return
	}
	if !f.silent {
		if _, err := nc.Write(peerLine(st, f.ports)); err != nil {
			nc.Close()
			st.Close()
			return
		}
	}
	splice(f.sess.done, nc, nc, st)
}

// peekedReader reads the client socket once a watch has ended, so that
// the stream copy and the watch never read br at once.
type peekedReader struct{ c *conn }

func (r peekedReader) Read(p []byte) (int, error) {
	r.c.waitPeek()
	return r.c.br.Read(p)
}

// splice copies between a client socket and a stream until both
// directions ended or done closes, then closes both. An end of input is
// passed on as a half-close; an error closes everything.
func splice(done <-chan struct{}, nc net.Conn, fromClient io.Reader, st *streaming.Conn) {
	stop := make(chan struct{})
	go func() {
		select {
		case <-done:
			nc.Close()
			st.Close()
		case <-stop:
		}
	}()
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		if _, err := io.Copy(st, fromClient); err != nil {
			nc.Close()
			st.Close()
			return
		}
		st.CloseWrite()
	}()
	if _, err := io.Copy(nc, st); err != nil {
		nc.Close()
		st.Close()
	} else if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		nc.Close()
	}
	<-upDone
	close(stop)
	nc.Close()
	st.Close()
}
