package irctunnel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"i2pbridge/bridge/ircfilter"
	"i2pbridge/bridge/protect"
	"i2pbridge/bridge/relay"
	"i2pbridge/router/data"
)

// WebIRCGateway is the gateway name sent in WEBIRC (ngIRCd shows it as
// the user name of every user of the tunnel).
const WebIRCGateway = "i2pbridge"

// NotIRC counts streams refused because they began like another protocol.
const NotIRC protect.Reason = "not_irc"

// errNotIRC ends a stream that began like another protocol.
var errNotIRC = errors.New("irctunnel: not an IRC client")

// maxRegistrationLine bounds a client line before registration: the IRCv3
// tag section plus a 512-byte body.
const maxRegistrationLine = ircfilter.MaxTagSection + ircfilter.DefaultMaxBodyLen

// targetDialTimeout bounds the TCP dial of the (normally local) IRC server.
const targetDialTimeout = 30 * time.Second

// otherProtocols are the openings of streams that are not IRC: browsers and
// crawlers hitting the wrong tunnel, and the two protocols Java I2P's
// ircserver also turns away.
var otherProtocols = []string{"GET ", "POST", "HEAD", "PUT ", "OPTI", "CONN", "DELE", "PATC", "\x13Bit", "GNUT"}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Server is an irc-server tunnel.
type Server struct {
	cfg      Config
	log      *slog.Logger
	counters *relay.Counters
	guard    *protect.Guard
	ep       *protect.Endpoint
	cloakKey []byte // nil = show the b32
	webirc   string // "" = rewrite USER only

	ln net.Listener // guarded I2P listener, owned by Open/Serve/Close
}

// NewServer checks cfg; nothing is opened until Open.
func NewServer(cfg Config) (*Server, error) {
	t := cfg.Tunnel
	if t.Type != TypeServer {
		return nil, fmt.Errorf("%w: type %q is not %s", ErrConfig, t.Type, TypeServer)
	}
	if _, _, err := net.SplitHostPort(t.Target); err != nil {
		return nil, fmt.Errorf("%w: target: %w", ErrConfig, err)
	}
	if strings.ContainsFunc(t.WebIRCPassword, func(r rune) bool { return r <= ' ' || r == 0x7f }) || strings.HasPrefix(t.WebIRCPassword, ":") {
		return nil, fmt.Errorf("%w: webirc_password must be one IRC word", ErrConfig)
	}
	cfg.defaults()
	log := cfg.Logger.With("tunnel", t.Name)
	pc := protect.FromTunnel(t)
	pc.Now, pc.Logger = cfg.Now, log
	g, err := protect.New(pc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	ep, err := protect.NewEndpoint(protect.EndpointConfig{
		Tunnel: t, Network: cfg.Network, Datadir: cfg.Datadir, Logger: cfg.Logger, Rand: cfg.Rand, Guard: g,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s := &Server{cfg: cfg, log: log, counters: cfg.Counters, guard: g, ep: ep, webirc: t.WebIRCPassword}
	if t.CloakKey != "" {
		s.cloakKey = []byte(t.CloakKey)
	}
	return s, nil
}

// Open opens the destination and its guarded listener.
func (s *Server) Open(ctx context.Context) error {
	ln, err := s.ep.Open(ctx)
	if err != nil {
		return err
	}
	s.ln = ln
	mode := "user"
	if s.webirc != "" {
		mode = "webirc"
	}
	s.log.Info("irc server tunnel up", "b32", s.ep.Address(), "target", s.cfg.Tunnel.Target, "mode", mode, "cloak", s.cloakKey != nil)
	return nil
}

// Serve accepts streams until ctx ends (nil) or the I2P listener fails.
func (s *Server) Serve(ctx context.Context) error {
	return acceptLoop(ctx, s.log, s.counters, s.ln, s.handle, func() error { return nil })
}

// Close closes the listener and the destination; Serve must have returned.
func (s *Server) Close() error {
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	return s.ep.Close()
}

// Address is the b32 of the open destination, "" when closed.
func (s *Server) Address() string { return s.ep.Address() }

// ListenAddr is "" for server tunnels.
func (s *Server) ListenAddr() string { return "" }

// Rejected returns the refused streams by reason.
func (s *Server) Rejected() map[string]uint64 { return s.guard.Rejected() }

// Identity is how the IRC server sees the user with destination hash h:
// Host (the b32, or the cloak with a cloak key) and IP, a fake fd00::/8
// address derived from the same secret-or-public value, for WEBIRC.
func (s *Server) Identity(h data.Hash) (host string, ip netip.Addr) {
	seed := h[:]
	host = h.B32()
	if s.cloakKey != nil {
		m := hmac.New(sha256.New, s.cloakKey)
		m.Write(h[:])
		seed = m.Sum(nil)
		host = lowerBase32.EncodeToString(seed[:10]) + ".i2p"
	}
	var a [16]byte
	a[0] = 0xfd // unique local: never routed, never a real user's address
	copy(a[1:], seed[16:31])
	return host, netip.AddrFrom16(a)
}

func (s *Server) handle(ctx context.Context, stream net.Conn) {
	peer := protect.PeerOf(stream).Hash()
	log := s.log.With("peer", peer.Short())
	host, ip := s.Identity(peer)
	d := net.Dialer{Timeout: targetDialTimeout, LocalAddr: s.guard.LocalAddr(peer)}
	target, err := d.DialContext(ctx, "tcp", s.cfg.Tunnel.Target)
	if err != nil {
		stream.Close()
		if ctx.Err() == nil {
			s.counters.FailedConns.Add(1)
			s.log.Warn("irc server unreachable, stream closed", "target", s.cfg.Tunnel.Target, "err", err)
		}
		return
	}
	if s.webirc != "" {
		// WEBIRC must be the first line the server reads.
		if _, err := fmt.Fprintf(target, "WEBIRC %s %s %s %s\r\n", s.webirc, WebIRCGateway, host, ip); err != nil {
			stream.Close()
			target.Close()
			log.Debug("webirc", "err", err)
			return
		}
	}
	err = join(ctx, stream, target, s.registration(host, log), rawPump, s.cfg.Tunnel.IdleTimeout.Duration(), s.counters)
	if errors.Is(err, errNotIRC) {
		s.guard.Count(NotIRC)
	}
	log.Debug("stream closed", "err", err)
}

// registration relays the client's lines until its USER line has passed
// (rewritten to carry host), then the rest raw.
func (s *Server) registration(host string, log *slog.Logger) pump {
	return func(dst io.Writer, src io.Reader) error {
		br := bufio.NewReaderSize(src, maxRegistrationLine)
		if head, err := br.Peek(4); err == nil {
			for _, p := range otherProtocols {
				if string(head) == p {
					return errNotIRC
				}
			}
		}
		bw := bufio.NewWriter(dst)
		for {
			line, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				log.Debug("irc line dropped", "dir", "out", "reason", "line too long before registration")
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = br.ReadSlice('\n')
				}
				line = nil
			}
			user := false
			if len(line) > 0 {
				out, isUser, why := registrationLine(line, host)
				if why != "" {
					log.Debug("irc line rewritten or dropped", "dir", "out", "reason", why)
				}
				if out != "" {
					bw.WriteString(out)
					bw.WriteString("\r\n")
				}
				user = isUser
			}
			if err != nil || user || br.Buffered() == 0 {
				if ferr := bw.Flush(); ferr != nil {
					return ferr
				}
			}
			switch {
			case err == io.EOF:
				return nil
			case err != nil:
				return err
			case user:
				return rawPump(dst, br) // br still holds what followed USER
			}
		}
	}
}

// registrationLine handles one client line before registration: it returns
// the line to send (without CRLF, "" to drop it), whether it was the USER
// line, and, when it changed anything, why (for debug logs; never the
// line's content).
func registrationLine(line []byte, host string) (out string, user bool, why string) {
	text := string(bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")))
	if strings.TrimSpace(text) == "" {
		return "", false, ""
	}
	msg, err := ircmsg.ParseLine(text)
	if err != nil {
		return "", false, "malformed line dropped"
	}
	switch strings.ToUpper(msg.Command) {
	case "WEBIRC":
		return "", false, "WEBIRC from the client dropped"
	case "USER":
		if len(msg.Params) < 4 {
			return "", false, "USER with too few parameters dropped"
		}
		msg.Source = ""
		msg.Command = "USER"
		msg.Params[1] = host
		msg.ForceTrailing()
		l, err := msg.Line()
		if err != nil {
			return "", false, "USER that cannot be rewritten dropped"
		}
		return strings.TrimSuffix(l, "\r\n"), true, "USER host set"
	}
	return text, false, ""
}
