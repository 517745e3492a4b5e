// Package relay copies bytes both ways between two connections: the hot
// path of every tunnel (an I2P stream on one side, a local TCP connection on
// the other).
//
// Run starts one copier per direction. When a direction's source reports
// EOF, the destination is half-closed (CloseWrite) if it supports that, and
// the other direction keeps flowing until it ends as well; this is what
// lets request/response protocols that signal "end of request" with a
// half-close (rsync, `nc -N`, HTTP/1.0 clients) work through a tunnel.
// When the destination cannot half-close (an I2P stream over i2pd's SAM
// bridge, where shutting down the write side ends the whole stream), the
// other direction still keeps flowing, until it ends or has been quiet for
// Options.Linger; then both sides are closed. That keeps responses to a
// half-closed request intact without leaving connections open forever.
// Any other read or write error aborts the relay and closes both sides.
// An optional idle timeout closes both sides when no byte moved in either
// direction for that long, and cancelling the ctx does the same.
//
// Byte counts are kept in atomic Counters that can be shared by all relays
// of a tunnel and read while they run.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrIdle is returned by Run when the idle timeout closed the relay.
var ErrIdle = errors.New("relay: idle timeout")

// BufferSize is the size of the pooled copy buffers.
const BufferSize = 32 << 10

// bufPool holds *[]byte of BufferSize; a pointer avoids an allocation per
// Put (SA6002).
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, BufferSize)
	return &b
}}

// Counters are the traffic counters of a group of relays, normally one
// tunnel. All fields are updated atomically and can be read at any time.
// Run maintains AToB and BToA; Conns, TotalConns and FailedConns are kept
// by the tunnel, which knows when a connection starts (before its relay,
// during the dial of the other side) and when a dial failed.
type Counters struct {
	AToB atomic.Uint64 // bytes read from a and written to b
	BToA atomic.Uint64 // bytes read from b and written to a

	Conns       atomic.Int64  // connections open now
	TotalConns  atomic.Uint64 // connections accepted so far
	FailedConns atomic.Uint64 // connections closed because the other side could not be reached
}

// Options tune one Run.
type Options struct {
	// IdleTimeout closes both connections when no byte moved in either
	// direction for this long. 0 disables it.
	IdleTimeout time.Duration
	// Counters, when set, receive the byte counts as they flow (shared
	// by all relays of a tunnel).
	Counters *Counters
	// Linger bounds how long the other direction may stay quiet after a
	// direction ended whose destination cannot half-close. 0 means
	// DefaultLinger.
	Linger time.Duration
}

// DefaultLinger is the Linger used when Options.Linger is 0.
const DefaultLinger = 30 * time.Second

// Stats are the totals of one finished Run.
type Stats struct {
	AToB, BToA uint64
}

// closeWriter is implemented by *net.TCPConn, *net.UnixConn, tls.Conn and
// the i2pnettest streams.
type closeWriter interface {
	CloseWrite() error
}

// relay is the shared state of the two copiers of one Run.
type relay struct {
	a, b net.Conn
	opts Options

	// lastActive is the time of the last transfer in nanoseconds since
	// start; the idle watchdog compares against it instead of resetting a
	// timer per read, which keeps timer operations off the hot path.
	start      time.Time
	lastActive atomic.Int64

	// abortOnce closes both conns exactly once; reason is the cause
	// recorded by whoever aborted first (ErrIdle, ctx error, or a copy
	// error), and is what Run reports.
	abortOnce sync.Once
	reason    error

	aToB, bToA atomic.Uint64
	done       atomic.Bool // Run has returned; the watchdog must not rearm
}

// Run relays between a and b until both directions have ended, the idle
// timeout fires, an I/O error occurs, or ctx is cancelled. It closes both
// connections before returning.
//
// The error is nil when both directions ended with EOF, ErrIdle after the
// idle timeout, ctx.Err() after cancellation, and otherwise the first I/O
// error (wrapped with its direction).
func Run(ctx context.Context, a, b net.Conn, opts Options) (Stats, error) {
	r := &relay{a: a, b: b, opts: opts, start: time.Now()}

	stopCtx := context.AfterFunc(ctx, func() { r.abort(ctx.Err()) })
	defer stopCtx()
	if opts.IdleTimeout > 0 {
		// The watchdog rearms itself for the rest of the idle window as
		// long as traffic keeps flowing. It is created far in the future
		// and then armed, so the callback never sees t unassigned.
		var t *time.Timer
		t = time.AfterFunc(math.MaxInt64, func() {
			if r.done.Load() {
				return
			}
			idleFor := time.Since(r.start) - time.Duration(r.lastActive.Load())
			if idleFor >= opts.IdleTimeout {
				r.abort(ErrIdle)
				return
			}
			t.Reset(opts.IdleTimeout - idleFor)
		})
		t.Reset(opts.IdleTimeout)
		defer t.Stop()
	}

	errc := make(chan error, 1)
	go func() { errc <- r.copy(b, a, &r.aToB, counterOf(opts.Counters, true), "a→b") }()
	err1 := r.copy(a, b, &r.bToA, counterOf(opts.Counters, false), "b→a")
	err2 := <-errc

	// Both directions ended; make sure both conns are closed. When both
	// ended with EOF this is the normal close, and reason stays nil.
	r.abortOnce.Do(func() {
		r.closeBoth()
		r.reason = errors.Join(err1, err2)
	})
	r.done.Store(true)
	stats := Stats{AToB: r.aToB.Load(), BToA: r.bToA.Load()}
	return stats, r.reason
}

func counterOf(c *Counters, aToB bool) *atomic.Uint64 {
	switch {
	case c == nil:
		return nil
	case aToB:
		return &c.AToB
	default:
		return &c.BToA
	}
}

// abort closes both connections and records why, once.
func (r *relay) abort(reason error) {
	r.abortOnce.Do(func() {
		r.reason = reason
		r.closeBoth()
	})
}

// linger closes both sides once no byte has moved for Linger.
func (r *relay) linger() {
	d := r.opts.Linger
	if d <= 0 {
		d = DefaultLinger
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		if r.done.Load() {
			return
		}
		quiet := time.Since(r.start) - time.Duration(r.lastActive.Load())
		if quiet >= d {
			r.abort(nil)
			return
		}
		t.Reset(d - quiet)
	})
}

func (r *relay) closeBoth() {
	r.a.Close()
	r.b.Close()
}

// copy moves bytes from src to dst. On EOF it half-closes dst and returns
// nil; on any other error it aborts the whole relay (so the other direction
// stops too) and returns the error.
func (r *relay) copy(dst, src net.Conn, own, shared *atomic.Uint64, dir string) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			if w > 0 {
				own.Add(uint64(w))
				if shared != nil {
					shared.Add(uint64(w))
				}
				r.lastActive.Store(int64(time.Since(r.start)))
			}
			if werr == nil && w != n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				err := fmt.Errorf("relay %s: write: %w", dir, werr)
				r.abort(err)
				return err
			}
		}
		if rerr == io.EOF {
			if cw, ok := dst.(closeWriter); ok {
				// A failed half-close means dst is already gone;
				// the other direction will notice on its own.
				cw.CloseWrite()
				return nil
			}
			// Without half-close the peer of dst cannot learn that
			// this direction ended. Closing everything now would cut
			// off a response still on its way, so the other
			// direction gets Linger of quiet before both close.
			r.linger()
			return nil
		}
		if rerr != nil {
			err := fmt.Errorf("relay %s: read: %w", dir, rerr)
			r.abort(err)
			return err
		}
	}
}
