// Package irctunnel implements the two IRC tunnel kinds.
//
// irc-client (Client) is a local port for an ordinary IRC client. Each
// connection gets a stream to Tunnel.Destination and its own
// ircfilter.Filter, with one goroutine per direction:
//
//	IRC client ──lines──> Filter.Outbound ──CRLF──> I2P stream ──> IRC server tunnel
//	IRC client <──CRLF── Filter.Inbound  <──lines── I2P stream
//
// Lines are split on LF (a CR before it is dropped) and refused before they
// are buffered when longer than Filter.MaxLineLen; every line leaves with
// CRLF. What the filter rewrites or drops is logged at debug level with
// Result.Reason, which never carries message text.
//
// irc-server (Server) publishes an IRC server on I2P and makes each I2P user
// visible to it as themselves: by default the host field of the USER line is
// replaced with the caller's b32 address (as Java I2P's ircserver and i2pd's
// irc tunnel do), or with a keyed cloak when cloak_key is set: the HMAC-SHA256
// of the destination hash under the key, 16 base32 characters plus ".i2p",
// stable per user and not reversible without the key. With webirc_password the
// tunnel first sends
//
//	WEBIRC <password> i2pbridge <host> <ip>
//
// where host is the b32 (or cloak) and ip a fake IPv6 address in fd00::/8
// derived from the same hash (or cloak), so per-IP limits and bans work per
// user; servers such as ngIRCd take the host from it (ngIRCd needs DNS
// enabled for that, else it shows the ip). The USER host is rewritten either
// way, so no client-chosen host reaches the server. Until the USER line has
// passed, client lines are read one by one: WEBIRC lines from the client are
// dropped (a client must not claim its own host), and a stream that starts
// like an HTTP, BitTorrent or Gnutella request is refused and counted as
// not_irc. After USER the client side is relayed raw, like the server side
// all along.
//
// Both kinds follow the supervisor's lifecycle (Open, Serve, Close), count
// traffic in relay.Counters (a = the I2P side, so AToB is "in" from I2P), and
// honour the tunnel's idle_timeout. The server kind is protected by
// bridge/protect like every server tunnel.
package irctunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
)

// Tunnel types handled by this package.
const (
	TypeClient = "irc-client"
	TypeServer = "irc-server"
)

// ErrConfig marks a tunnel definition this package cannot run.
var ErrConfig = errors.New("irctunnel: bad tunnel config")

// Config is what both kinds need.
type Config struct {
	Tunnel  config.Tunnel
	Network i2pnet.Network
	Datadir string       // irc-server: receives <name>.b32; "" skips the file
	Logger  *slog.Logger // nil = discard
	Rand    io.Reader    // key generation; nil = crypto/rand
	// Counters receive the tunnel's traffic; nil = private counters.
	Counters *relay.Counters
	// Now is the clock of the irc-server's rate limits; nil = time.Now.
	Now func() time.Time
}

func (cfg *Config) defaults() {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Counters == nil {
		cfg.Counters = new(relay.Counters)
	}
}

// acceptLoop accepts from ln until ctx ends (nil) or ln fails; each conn is
// handled on its own goroutine with a ctx that ends with the loop, and the
// loop returns only after every handler did. fatal, when it returns an
// error, turns an accept failure into a tunnel failure (the session died).
func acceptLoop(ctx context.Context, log *slog.Logger, counters *relay.Counters, ln net.Listener,
	handle func(ctx context.Context, c net.Conn), fatal func() error) error {
	connCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var tempDelay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if ferr := fatal(); ferr != nil {
				return ferr
			}
			if isTemporary(err) {
				// Out of file descriptors and the like: back off
				// instead of failing or spinning, as net/http does.
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				log.Warn("accept failed, retrying", "err", err, "in", tempDelay)
				select {
				case <-time.After(tempDelay):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("accept: %w", err)
		}
		tempDelay = 0
		counters.Conns.Add(1)
		counters.TotalConns.Add(1)
		wg.Go(func() {
			defer counters.Conns.Add(-1)
			handle(connCtx, c)
		})
	}
}

func isTemporary(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// pump moves one direction from src to dst; it returns nil when src ended
// cleanly (EOF) and the error otherwise.
type pump func(dst io.Writer, src io.Reader) error

// ErrIdle is returned by a connection closed by the idle timeout.
var ErrIdle = relay.ErrIdle

// join runs a (the I2P stream) and b (the local connection) against each
// other: aToB copies a to b, bToA b to a, each on its own goroutine. A
// direction that ends cleanly half-closes its destination (or, without
// half-close, ends the whole connection); an error, the idle timeout or ctx
// closes both. join closes both conns before it returns and reports why it
// ended (nil after two clean ends).
func join(ctx context.Context, a, b net.Conn, aToB, bToA pump, idle time.Duration, c *relay.Counters) error {
	j := &joined{a: a, b: b}
	j.touch()
	stopCtx := context.AfterFunc(ctx, func() { j.abort(ctx.Err()) })
	defer stopCtx()
	if idle > 0 {
		var t *time.Timer
		t = time.AfterFunc(idle, func() {
			if j.done.Load() {
				return
			}
			idleFor := time.Since(time.Unix(0, j.last.Load()))
			if idleFor >= idle {
				j.abort(ErrIdle)
				return
			}
			t.Reset(idle - idleFor)
		})
		defer t.Stop()
	}
	errc := make(chan error, 1)
	go func() { errc <- j.run(b, a, aToB, &c.AToB) }()
	err1 := j.run(a, b, bToA, &c.BToA)
	err2 := <-errc
	j.once.Do(func() {
		j.reason = errors.Join(err1, err2)
		a.Close()
		b.Close()
	})
	j.done.Store(true)
	return j.reason
}

type joined struct {
	a, b   net.Conn
	last   atomic.Int64 // unix nanoseconds of the last byte moved
	once   sync.Once
	reason error
	done   atomic.Bool
}

func (j *joined) touch() { j.last.Store(time.Now().UnixNano()) }

func (j *joined) abort(reason error) {
	j.once.Do(func() {
		j.reason = reason
		j.a.Close()
		j.b.Close()
	})
}

type closeWriter interface{ CloseWrite() error }

// run is one direction: p from src to dst through a counting writer.
func (j *joined) run(dst, src net.Conn, p pump, counter *atomic.Uint64) error {
	err := p(&countingWriter{w: dst, n: counter, j: j}, src)
	if err != nil {
		j.abort(err)
		return err
	}
	if cw, ok := dst.(closeWriter); ok {
		cw.CloseWrite() // a failure means dst is gone; the other direction notices
		return nil
	}
	j.abort(nil) // without half-close the peer would never learn the end
	return nil
}

type countingWriter struct {
	w io.Writer
	n *atomic.Uint64
	j *joined
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if n > 0 {
		c.n.Add(uint64(n))
		c.j.touch()
	}
	return n, err
}

// rawPump copies bytes unchanged.
func rawPump(dst io.Writer, src io.Reader) error {
	buf := make([]byte, relay.BufferSize)
	_, err := io.CopyBuffer(dst, onlyReader{src}, buf)
	return err
}

// onlyReader hides WriterTo/ReaderFrom so io.CopyBuffer uses the counting
// writer for every byte.
type onlyReader struct{ io.Reader }
