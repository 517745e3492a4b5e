package sam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"i2pbridge/router/data"
)

// Datagram size limits (samv3.html): a repliable datagram carries up to
// 31744 bytes (the rest of the 32 KiB leaves room for the sender's
// destination and signature), a raw one 32768.
const (
	MaxDatagramLen = 31744
	MaxRawLen      = 32768
)

// sendTimeout bounds one datagram send, LeaseSet lookup included.
const sendTimeout = time.Minute

// maxSends bounds the datagram sends in flight per session; beyond it
// datagrams are dropped, which their senders must expect anyway.
const maxSends = 64

// datagramSend runs DATAGRAM SEND / RAW SEND on the control socket
// (samv3.html "DATAGRAM SEND, RAW SEND"):
//
//	DATAGRAM SEND DESTINATION=<dest> SIZE=<n> [FROM_PORT=] [TO_PORT=]\n<n bytes>
//
// It goes out through this socket's session, or the session named by ID=
// (an extension: the spec sends through the last datagram session
// created). Sending is not confirmed, as in SAM v1/v2; a send that fails
// later is only logged. A SIZE that is missing or wrong is answered
// I2P_ERROR and closes the socket, whose bytes can no longer be told
// apart from commands.
func (c *conn) datagramSend(ctx context.Context, l Line, raw bool) {
	verb, limit := datagramError, MaxDatagramLen
	if raw {
		verb, limit = rawError, MaxRawLen
	}
	if _, ok := l.Get("SIZE"); !ok {
		c.replyError(verb, "SIZE is missing")
		c.state = connClosed
		return
	}
	size, err := parseInt(l, "SIZE", 1, limit, 0)
	if err != nil {
		c.replyError(verb, err.Error())
		c.state = connClosed
		return
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(c.br, payload); err != nil {
		c.state = connClosed
		return
	}
	sess := c.sess
	if id := l.Value("ID"); id != "" {
		if sess, err = c.s.session(id); err != nil {
			c.status(verb, "INVALID_ID", err.Error())
			return
		}
	}
	if sess == nil {
		c.replyError(verb, "no session on this socket; send from the socket that created the session, or give ID=")
		return
	}
	want := styleDatagram
	if raw {
		want = styleRaw
	}
	if err := sess.takes(want); err != nil {
		c.replyError(verb, err.Error())
		return
	}
	target := l.Value("DESTINATION")
	if target == "" {
		c.status(verb, "INVALID_KEY", "DESTINATION is missing")
		return
	}
	_, hash, err := c.s.address(target)
	if err != nil {
		c.status(verb, "INVALID_KEY", err.Error())
		return
	}
	from, to, err := sendPorts(l.Get, sess, raw)
	if err != nil {
		c.replyError(verb, err.Error())
		return
	}
	sess.send(raw, hash, from, to, payload)
}

// sendPorts reads FROM_PORT, TO_PORT (session defaults) and PROTOCOL,
// which must be 18 for RAW and absent otherwise.
func sendPorts(get func(string) (string, bool), sess *session, raw bool) (from, to uint16, err error) {
	l := Line{}
	for _, k := range []string{"FROM_PORT", "TO_PORT", "PROTOCOL"} {
		if v, ok := get(k); ok {
			l.Args = append(l.Args, Arg{k, v})
		}
	}
	f, err := parseInt(l, "FROM_PORT", 0, 65535, int(sess.fromPort))
	if err != nil {
		return 0, 0, err
	}
	t, err := parseInt(l, "TO_PORT", 0, 65535, int(sess.toPort))
	if err != nil {
		return 0, 0, err
	}
	if _, ok := l.Get("PROTOCOL"); ok {
		if !raw {
			return 0, 0, errors.New("PROTOCOL is for raw datagrams")
		}
		p, err := parseInt(l, "PROTOCOL", 0, 255, rawProtocol)
		if err != nil {
			return 0, 0, err
		}
		if p != rawProtocol {
			return 0, 0, fmt.Errorf("PROTOCOL=%d is not supported: raw datagrams use %d", p, rawProtocol)
		}
	}
	return uint16(f), uint16(t), nil
}

// send sends one datagram in the background.
func (sess *session) send(raw bool, to data.Hash, from, toPort uint16, p []byte) {
	select {
	case sess.sends <- struct{}{}:
	default:
		sess.log.Debug("sam: too many datagrams in flight, one dropped", "limit", maxSends)
		return
	}
	ok := sess.spawn(func() {
		defer func() { <-sess.sends }()
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		defer cancel()
		// A subsession's destination outlives it, so its close would
		// otherwise wait for sends stuck in a lookup.
		defer cancelOn(sess.done, cancel)()
		var err error
		if raw {
			err = sess.client.Dest.SendRaw(ctx, to, from, toPort, p)
		} else {
			err = sess.client.Dest.SendDatagram(ctx, to, from, toPort, p)
		}
		if err != nil {
			sess.log.Debug("sam: datagram not sent", "to", to.Short(), "err", err)
		}
	})
	if !ok {
		<-sess.sends
	}
}

// cancelOn calls cancel when done closes, until the returned stop is
// called.
func cancelOn(done <-chan struct{}, cancel context.CancelFunc) (stop func()) {
	quit := make(chan struct{})
	go func() {
		select {
		case <-done:
			cancel()
		case <-quit:
		}
	}()
	return func() { close(quit) }
}

// ServeDatagrams reads datagrams sent to the SAM UDP port (7655 by
// convention) from pc until ctx ends, and sends each through the session
// its header names (see DatagramHeader). Bad datagrams are dropped and
// logged at debug level: UDP has no way to answer. It returns nil when
// ctx ended.
func (s *Server) ServeDatagrams(ctx context.Context, pc net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	buf := make([]byte, 64<<10)
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sam: datagram port: %w", err)
		}
		if err := s.handleDatagram(buf[:n]); err != nil {
			s.log.Debug("sam: datagram from a client dropped", "err", err)
		}
	}
}

// handleDatagram sends one datagram that came in on the UDP port.
func (s *Server) handleDatagram(b []byte) error {
	h, n, err := ParseDatagramHeader(b)
	if err != nil {
		return err
	}
	sess, err := s.session(h.ID)
	if err != nil {
		return err
	}
	raw := sess.style == styleRaw
	want := styleDatagram
	if raw {
		want = styleRaw
	}
	if err := sess.takes(want); err != nil {
		return err
	}
	limit := MaxDatagramLen
	if raw {
		limit = MaxRawLen
	}
	p := b[n:]
	if len(p) == 0 || len(p) > limit {
		return fmt.Errorf("payload of %d bytes, want 1 to %d", len(p), limit)
	}
	_, hash, err := s.address(h.Destination)
	if err != nil {
		return err
	}
	from, to, err := sendPorts(h.Get, sess, raw)
	if err != nil {
		return err
	}
	sess.send(raw, hash, from, to, append([]byte(nil), p...))
	return nil
}
