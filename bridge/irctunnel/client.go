package irctunnel

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/ircfilter"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
	"i2pbridge/router/data"
)

// FilterConfig maps the YAML irc_filter settings onto ircfilter.Config.
func FilterConfig(f config.IRCFilter) ircfilter.Config {
	return ircfilter.Config{
		ExtraOutbound: f.ExtraOutbound, ExtraInbound: f.ExtraInbound, ExtraTags: f.ExtraTags,
		QuitMessage: f.QuitMessage, PartMessage: f.PartMessage,
		Username: f.Username, KeepUsername: f.KeepUsername,
		Realname: f.Realname, KeepRealname: f.KeepRealname,
		BlockAction: f.BlockAction, MaxBodyLen: f.MaxLineLength,
	}
}

// Client is an irc-client tunnel.
type Client struct {
	cfg      Config
	log      *slog.Logger
	counters *relay.Counters
	filter   ircfilter.Config
	listen   string // configured address with the default host filled in

	mu      sync.Mutex
	ln      net.Listener   // local listener, set by Open, cleared by Close
	session i2pnet.Session // set by Open, cleared by Close
	b32     string

	// lost records that a dial found the session closed underneath us;
	// Serve then fails so the supervisor re-opens the tunnel.
	lostMu sync.Mutex
	lost   error
}

// NewClient checks cfg (the filter settings included); nothing is opened
// until Open.
func NewClient(cfg Config) (*Client, error) {
	t := cfg.Tunnel
	switch {
	case t.Type != TypeClient:
		return nil, fmt.Errorf("%w: type %q is not %s", ErrConfig, t.Type, TypeClient)
	case cfg.Network == nil:
		return nil, fmt.Errorf("%w: no network", ErrConfig)
	case t.Destination == "":
		return nil, fmt.Errorf("%w: no destination", ErrConfig)
	}
	cfg.defaults()
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	fc := FilterConfig(t.IRCFilter)
	if _, err := ircfilter.New(fc); err != nil {
		return nil, fmt.Errorf("%w: irc_filter: %w", ErrConfig, err)
	}
	host, port, err := net.SplitHostPort(t.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen: %w", ErrConfig, err)
	}
	if host == "" {
		host = "127.0.0.1" // never all interfaces by accident
	}
	return &Client{cfg: cfg, log: cfg.Logger.With("tunnel", t.Name), counters: cfg.Counters,
		filter: fc, listen: net.JoinHostPort(host, port)}, nil
}

// Open binds the local address first (the failure users hit most, and
// cheap) and then opens the destination (keys from Tunnel.Keys, or
// transient).
func (c *Client) Open(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", c.listen)
	if err != nil {
		return err
	}
	t := c.cfg.Tunnel
	sc := i2pnet.SessionConfig{Name: t.Name, Options: t.I2CPOptions()}
	if t.Keys != "" {
		k, created, err := data.LoadOrCreatePrivateKeyFile(t.Keys, c.cfg.Rand)
		if err != nil {
			ln.Close()
			return fmt.Errorf("keys: %w", err)
		}
		if created {
			c.log.Info("created keys file", "path", t.Keys)
		}
		sc.Keys = &k
	}
	s, err := c.cfg.Network.Open(ctx, sc)
	if err != nil {
		ln.Close()
		return fmt.Errorf("open session: %w", err)
	}
	c.mu.Lock()
	c.ln, c.session, c.b32 = ln, s, s.Addr().Dest.B32()
	c.mu.Unlock()
	c.lostMu.Lock()
	c.lost = nil
	c.lostMu.Unlock()
	// A client's own address links its users' connections together: not
	// at info level.
	c.log.Info("irc client tunnel up", "listen", ln.Addr().String())
	c.log.Debug("client destination", "b32", s.Addr().Dest.B32())
	return nil
}

func (c *Client) lostErr() error {
	c.lostMu.Lock()
	defer c.lostMu.Unlock()
	return c.lost
}

// Serve accepts local connections until ctx ends (nil), the listener
// fails, or the session turned out closed underneath the tunnel (errors).
func (c *Client) Serve(ctx context.Context) error {
	c.mu.Lock()
	ln, sess := c.ln, c.session
	c.mu.Unlock()
	return acceptLoop(ctx, c.log, c.counters, ln, func(ctx context.Context, local net.Conn) {
		c.handle(ctx, sess, ln, local)
	}, c.lostErr)
}

func (c *Client) handle(ctx context.Context, sess i2pnet.Session, ln net.Listener, local net.Conn) {
	remote, err := sess.Dial(ctx, c.cfg.Tunnel.Destination)
	if err != nil {
		local.Close()
		if ctx.Err() != nil {
			return
		}
		c.counters.FailedConns.Add(1)
		c.log.Warn("dial failed, local connection closed", "err", err)
		if errors.Is(err, i2pnet.ErrClosed) {
			c.lostMu.Lock()
			if c.lost == nil {
				c.lost = fmt.Errorf("session lost: %w", err)
				ln.Close() // wakes Accept; Serve reports lost
			}
			c.lostMu.Unlock()
		}
		return
	}
	f, err := ircfilter.New(c.filter) // checked by NewClient; one per connection
	if err != nil {
		local.Close()
		remote.Close()
		c.log.Error("irc filter", "err", err)
		return
	}
	in := linePump(f.MaxLineLen(), f.Inbound, c.log, "in")
	out := linePump(f.MaxLineLen(), f.Outbound, c.log, "out")
	err = join(ctx, remote, local, in, out, c.cfg.Tunnel.IdleTimeout.Duration(), c.counters)
	c.log.Debug("connection closed", "err", err)
}

// linePump splits src into lines of at most max bytes (LF included),
// passes each through filter and writes what it returns, with CRLF. A
// longer line is dropped without being buffered whole. Output is flushed
// whenever no further input is waiting, so a burst of lines leaves in few
// writes and a single line leaves at once.
func linePump(max int, filter func(string) ircfilter.Result, log *slog.Logger, dir string) pump {
	return func(dst io.Writer, src io.Reader) error {
		br := bufio.NewReaderSize(src, max)
		bw := bufio.NewWriter(dst)
		for {
			line, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				log.Debug("irc line dropped", "dir", dir, "reason", fmt.Sprintf("line longer than %d bytes", max))
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = br.ReadSlice('\n')
				}
				line = nil // what follows is the tail of the long line
			}
			if len(line) > 0 {
				res := filter(string(line))
				if res.Verdict != ircfilter.Pass {
					log.Debug("irc line "+res.Verdict.String(), "dir", dir, "reason", res.Reason)
				}
				if res.Verdict != ircfilter.Drop {
					bw.WriteString(res.Line)
					bw.WriteString("\r\n")
				}
			}
			if err != nil || br.Buffered() == 0 {
				if ferr := bw.Flush(); ferr != nil {
					return ferr
				}
			}
			switch {
			case err == io.EOF:
				return nil
			case err != nil:
				return err
			}
		}
	}
}

// Close closes the local listener and the destination; Serve must have
// returned.
func (c *Client) Close() error {
	c.mu.Lock()
	ln, s := c.ln, c.session
	c.ln, c.session, c.b32 = nil, nil, ""
	c.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	if s == nil {
		return nil
	}
	return s.Close()
}

// Address is the b32 of the client's destination while open, else "".
func (c *Client) Address() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b32
}

// ListenAddr returns the bound local address while open (the real port
// when the config asked for port 0), else the configured one.
func (c *Client) ListenAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln != nil {
		return c.ln.Addr().String()
	}
	return c.listen
}
