package samnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/samnet/samline"
	"i2pbridge/router/data"
)

type targetKind int

const (
	kindB32    targetKind = iota // xxx.b32.i2p: the router looks up the leaseset
	kindBase64                   // a full Destination: no lookup needed
	kindName                     // other .i2p names: NAMING LOOKUP first
)

// target is a parsed Dial address.
type target struct {
	kind targetKind
	host string           // b32 or name, lower case
	dest data.Destination // kindBase64
	port int              // 0 = none
}

// minDestBase64 is the shortest base64 Destination (387 bytes).
const minDestBase64 = 516

// parseTarget splits "host[:port]" and classifies host. Base64 has no ':'
// in I2P's alphabet, so the last colon always starts the port.
func parseTarget(address string) (target, error) {
	host := address
	var t target
	if i := strings.LastIndexByte(address, ':'); i >= 0 {
		p, err := strconv.Atoi(address[i+1:])
		if err != nil || p < 1 || p > 65535 {
			return target{}, fmt.Errorf("%w: bad port in %q", i2pnet.ErrUnknownName, address)
		}
		host, t.port = address[:i], p
	}
	lower := strings.ToLower(host)
	switch {
	case strings.HasSuffix(lower, data.B32Suffix):
		if _, err := data.ParseB32(lower); err != nil {
			return target{}, fmt.Errorf("%w: %w", i2pnet.ErrUnknownName, err)
		}
		t.kind, t.host = kindB32, lower
	case strings.HasSuffix(lower, ".i2p") && len(lower) > len(".i2p"):
		t.kind, t.host = kindName, lower
	case len(host) >= minDestBase64:
		d, err := data.ParseDestinationBase64(host)
		if err != nil {
			return target{}, fmt.Errorf("%w: %w", i2pnet.ErrUnknownName, err)
		}
		t.kind, t.dest = kindBase64, d
	default:
		return target{}, fmt.Errorf("%w: %q is not an I2P address", i2pnet.ErrUnknownName, host)
	}
	return t, nil
}

// Dial opens a stream: one new SAM socket per stream carrying HELLO and
// STREAM CONNECT. b32 and base64 addresses go to the router as they are;
// other .i2p names are resolved with NAMING LOOKUP first. While the session
// is being re-created Dial waits for it, bounded by ctx.
func (s *Session) Dial(ctx context.Context, address string) (net.Conn, error) {
	t, err := parseTarget(address)
	if err != nil {
		return nil, fmt.Errorf("samnet: dial: %w", err)
	}
	for {
		l, err := s.waitUp(ctx)
		if err != nil {
			return nil, fmt.Errorf("samnet: dial %s: %w", shortAddress(address), err)
		}
		port := t.port
		if !l.v.hasPorts() {
			// SAM before 3.2 has no ports; i2pd 2.45 serves every port
			// of a destination alike, so the stream still arrives.
			port = 0
		}
		var dest string
		var remote net.Addr
		switch t.kind {
		case kindB32:
			dest, remote = t.host, NameAddr{Name: t.host, Port: port}
		case kindBase64:
			dest, remote = t.dest.Base64(), i2pnet.Addr{Dest: t.dest, Port: port}
		case kindName:
			d, err := s.lookup(ctx, l, t.host)
			if err != nil {
				if s.retryable(ctx, l, err) {
					continue
				}
				return nil, fmt.Errorf("samnet: dial %s: %w", shortAddress(address), err)
			}
			dest, remote = d.Base64(), i2pnet.Addr{Dest: d, Port: port}
		}
		c, err := s.connect(ctx, l, dest, port, remote)
		if err == nil {
			return c, nil
		}
		if s.retryable(ctx, l, err) {
			s.log.Debug("sam: dial failed while the session went away; retrying", "err", err)
			continue
		}
		return nil, fmt.Errorf("samnet: dial %s: %w", shortAddress(address), err)
	}
}

// shortAddress keeps errors and logs readable: a base64 Destination is
// cut to its first characters (the port, if any, stays).
func shortAddress(address string) string {
	if len(address) < minDestBase64 {
		return address
	}
	host, port := address, ""
	if i := strings.LastIndexByte(address, ':'); i >= 0 {
		host, port = address[:i], address[i:]
	}
	return host[:16] + "…" + port
}

// retryable reports whether err, from an operation on link l, is the
// session going away underneath (retry on the next link) rather than an
// answer about the target. INVALID_ID means the router no longer knows
// our session ID: it restarted or dropped the session.
func (s *Session) retryable(ctx context.Context, l link, err error) bool {
	if ctx.Err() != nil || errors.Is(err, i2pnet.ErrClosed) {
		return false
	}
	var re *ReplyError
	if errors.As(err, &re) && re.Result != ResultInvalidID {
		return false
	}
	if errors.Is(err, ErrNoVersion) {
		return false
	}
	return s.stale(ctx, l)
}

// connect runs HELLO + STREAM CONNECT on a new socket. After RESULT=OK
// the socket is the stream.
func (s *Session) connect(ctx context.Context, l link, dest string, port int, remote net.Addr) (*streamConn, error) {
	c, v, err := s.n.dialHello(ctx, l.v)
	if err != nil {
		return nil, err
	}
	if !s.track(c) {
		_ = c.Close()
		return nil, i2pnet.ErrClosed
	}
	args := []samline.Arg{{Key: "ID", Value: l.id}, {Key: "DESTINATION", Value: dest}, {Key: "SILENT", Value: "false"}}
	if port != 0 && v.hasPorts() {
		args = append(args, samline.Arg{Key: "TO_PORT", Value: strconv.Itoa(port)})
	}
	release := bindCtx(ctx, c.Conn)
	err = c.writeMsg(samline.Message{Verb: "STREAM", Sub: "CONNECT", Args: args}, v)
	var m samline.Message
	if err == nil {
		m, err = c.readMsg()
	}
	if rerr := release(); rerr != nil && err == nil {
		err = rerr
	}
	if err == nil {
		err = expect(m, "STREAM", "STATUS")
	}
	if err == nil {
		err = replyErr("STREAM CONNECT", m)
	}
	if err != nil {
		s.untrack(c)
		_ = c.Close()
		var re *ReplyError
		if !errors.As(err, &re) && !errors.Is(err, ErrProtocol) {
			err = &bridgeError{addr: s.n.cfg.Addr, err: err}
		}
		return nil, ctxErr(ctx, err)
	}
	sc := &streamConn{samConn: c, local: s.Addr(), remote: remote}
	s.swapTracked(c, sc)
	return sc, nil
}

// swapTracked replaces a tracked handshake socket with its stream, whose
// Close untracks itself.
func (s *Session) swapTracked(old interface{ Close() error }, sc *streamConn) {
	sc.onClose = func() { s.untrack(sc) }
	s.mu.Lock()
	delete(s.closers, old)
	closed := s.state == stateClosed
	if !closed {
		s.closers[sc] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		_ = sc.Close()
	}
}

// lookup runs NAMING LOOKUP on the control socket, so that b32 lookups use
// this session's tunnels and NAME=ME means this session.
func (s *Session) lookup(ctx context.Context, l link, name string) (data.Destination, error) {
	m, err := l.ctl.roundTrip(ctx, samline.Message{Verb: "NAMING", Sub: "LOOKUP",
		Args: []samline.Arg{{Key: "NAME", Value: name}}}, s.n.cfg.CommandTimeout)
	if err != nil {
		return data.Destination{}, err
	}
	if err := expect(m, "NAMING", "REPLY"); err != nil {
		return data.Destination{}, err
	}
	if err := replyErr("NAMING LOOKUP", m); err != nil {
		var re *ReplyError
		if errors.As(err, &re) && strings.HasSuffix(name, data.B32Suffix) &&
			(re.Result == ResultKeyNotFound || re.Result == ResultInvalidKey) {
			// A well-formed b32 that does not resolve has no
			// leaseset reachable now (i2pd answers INVALID_KEY).
			re.sentinel = i2pnet.ErrUnreachable
		}
		return data.Destination{}, err
	}
	d, err := data.ParseDestinationBase64(m.Value("VALUE"))
	if err != nil {
		return data.Destination{}, fmt.Errorf("%w: NAMING REPLY VALUE: %w", ErrProtocol, err)
	}
	return d, nil
}

// Resolve turns a name into a Destination. A base64 Destination is parsed
// here; b32 names (the router looks up the leaseset), hosts-file names and
// "ME" go to the router as NAMING LOOKUP.
func (s *Session) Resolve(ctx context.Context, name string) (data.Destination, error) {
	if len(name) >= minDestBase64 {
		d, err := data.ParseDestinationBase64(name)
		if err != nil {
			return data.Destination{}, fmt.Errorf("samnet: resolve: %w: %w", i2pnet.ErrUnknownName, err)
		}
		return d, nil
	}
	lower := strings.ToLower(name)
	switch {
	case name == "ME":
	case strings.HasSuffix(lower, data.B32Suffix):
		if _, err := data.ParseB32(lower); err != nil {
			return data.Destination{}, fmt.Errorf("samnet: resolve: %w: %w", i2pnet.ErrUnknownName, err)
		}
		name = lower
	case strings.HasSuffix(lower, ".i2p") && len(lower) > len(".i2p"):
		name = lower
	default:
		return data.Destination{}, fmt.Errorf("samnet: resolve: %w: %q is not an I2P name", i2pnet.ErrUnknownName, name)
	}
	for {
		l, err := s.waitUp(ctx)
		if err != nil {
			return data.Destination{}, fmt.Errorf("samnet: resolve %s: %w", name, err)
		}
		d, err := s.lookup(ctx, l, name)
		if err == nil {
			return d, nil
		}
		if !s.retryable(ctx, l, err) {
			return data.Destination{}, fmt.Errorf("samnet: resolve %s: %w", name, err)
		}
	}
}
