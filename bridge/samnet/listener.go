package samnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/samnet/samline"
	"i2pbridge/router/data"
)

// listener is the net.Listener of a Session: a pool of workers, each
// keeping one STREAM ACCEPT socket pending and handing the stream it gets
// to Accept through a queue, so it re-arms at once.
//
// How many ACCEPTs are pending depends on the version. From SAM 3.2 on,
// concurrent ACCEPTs are allowed and the pool has AcceptPool workers (a
// bridge that still answers ALREADY_ACCEPTING shrinks it). Below 3.2 only
// worker 0 runs: i2pd 2.45 corrupts streams when several ACCEPTs are
// pending (see version.hasConcurrentAccept). One is enough there: with no
// ACCEPT pending, i2pd keeps incoming streams in a backlog (at most 128,
// dropped 10 s after the last arrival) and hands the oldest to the next
// ACCEPT at once (Streaming.cpp AcceptOnce), so the moment between two
// ACCEPTs loses nothing.
//
// When the control socket drops, the router closes every socket of the
// session, pending ACCEPTs included; the workers wait for the session to
// come back and re-arm, so Accept just keeps blocking.
type listener struct {
	s      *Session
	cancel context.CancelFunc
	ch     chan *streamConn // accepted, not yet returned by Accept
	done   chan struct{}
	wg     sync.WaitGroup

	mu        sync.Mutex
	running   int // workers still running
	closeOnce sync.Once
}

// Listen returns the listener for incoming streams. There is one active
// listener per Session; after it is closed Listen may be called again.
func (s *Session) Listen() (net.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return nil, i2pnet.ErrClosed
	}
	if s.listener != nil {
		return nil, ErrListening
	}
	pool := s.n.cfg.AcceptPool
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{s: s, cancel: cancel, ch: make(chan *streamConn, pool), done: make(chan struct{}), running: pool}
	s.listener = l
	for i := range pool {
		l.wg.Add(1)
		go l.worker(ctx, i)
	}
	return l, nil
}

// Accept waits for the next incoming stream. It does not fail while the
// router is away; only Close (of the listener or the session) ends it,
// with net.ErrClosed.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, closedErr("accept", l.Addr())
	}
}

// Addr is the session's destination.
func (l *listener) Addr() net.Addr { return l.s.Addr() }

// Close stops accepting and closes the pending ACCEPT sockets and any
// stream not yet returned by Accept. The session stays open.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.cancel()
		l.wg.Wait()
		// The workers have stopped, so nothing refills the queue.
		for len(l.ch) > 0 {
			_ = (<-l.ch).Close()
		}
		l.s.mu.Lock()
		if l.s.listener == l {
			l.s.listener = nil
		}
		l.s.mu.Unlock()
	})
	return nil
}

// retire lets a refused worker stop unless it is the last one.
func (l *listener) retire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running > 1 {
		l.running--
		return true
	}
	return false
}

// worker keeps one ACCEPT pending until ctx ends. Workers other than 0
// idle while the session speaks a version without concurrent ACCEPTs.
func (l *listener) worker(ctx context.Context, idx int) {
	defer l.wg.Done()
	s := l.s
	b := backoff{min: s.n.cfg.MinBackoff, max: s.n.cfg.MaxBackoff}
	for {
		lk, err := s.waitUp(ctx)
		if err != nil {
			return // listener or session closed
		}
		if idx > 0 && !lk.v.hasConcurrentAccept() {
			select {
			case <-lk.ctl.dead: // the next link may speak another version
				continue
			case <-ctx.Done():
				return
			}
		}
		c, err := l.accept(ctx, lk)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, i2pnet.ErrClosed) {
				return
			}
			var re *ReplyError
			if errors.As(err, &re) && refusesConcurrentAccept(re) && l.retire() {
				s.log.Info("sam: bridge refuses concurrent STREAM ACCEPT; pool shrinks", "err", err)
				return
			}
			if s.stale(ctx, lk) {
				continue // session being re-created; waitUp blocks until it is
			}
			if errors.Is(err, errAcceptDropped) {
				// The control socket is up, yet the router dropped a
				// pending ACCEPT without handing it a stream. i2pd 2.45
				// does this when it resets the destination's acceptors:
				// after a quick restart SESSION CREATE returns the old,
				// dying destination (in ~1 ms instead of the usual
				// readiness wait), which i2pd deletes 5 s after the old
				// session closed. Its streams never reach us again, so
				// the only cure is a new session.
				s.log.Warn("sam: router dropped a pending STREAM ACCEPT; re-creating the session", "err", err)
				lk.ctl.close()
				continue
			}
			d := b.next()
			s.log.Debug("sam: STREAM ACCEPT failed", "err", err, "retry_in", d.Round(time.Millisecond))
			if !sleepCtx(ctx, d) {
				return
			}
			continue
		}
		b.reset()
		select {
		case l.ch <- c:
		case <-ctx.Done():
			_ = c.Close()
			return
		}
	}
}

// errAcceptDropped: the router closed a pending STREAM ACCEPT socket
// without a stream.
var errAcceptDropped = errors.New("router closed the pending accept")

// refusesConcurrentAccept recognises Java I2P's answer to a second pending
// ACCEPT before SAM 3.2.
func refusesConcurrentAccept(re *ReplyError) bool {
	return re.Result == ResultAlreadyAccept ||
		(re.Result == ResultI2PError && strings.Contains(strings.ToLower(re.Message), "already accepting"))
}

// accept runs HELLO + STREAM ACCEPT on a new socket and waits, without a
// deadline, for the line naming the peer. ctx (the listener's) interrupts
// the wait.
func (l *listener) accept(ctx context.Context, lk link) (*streamConn, error) {
	s := l.s
	c, v, err := s.n.dialHello(ctx, lk.v)
	if err != nil {
		return nil, err
	}
	if !s.track(c) {
		_ = c.Close()
		return nil, i2pnet.ErrClosed
	}
	release := bindCtx(ctx, c.Conn)
	peer, err := acceptHandshake(c, v, lk.id)
	if rerr := release(); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		s.untrack(c)
		_ = c.Close()
		return nil, ctxErr(ctx, err)
	}
	remote, local, err := parsePeerLine(peer)
	if err != nil {
		s.untrack(c)
		_ = c.Close()
		return nil, err
	}
	local.Dest = s.Addr().Dest
	sc := &streamConn{samConn: c, local: local, remote: remote}
	s.swapTracked(c, sc)
	s.log.Debug("sam: incoming stream", "peer", remote.Dest.Hash().Short())
	return sc, nil
}

// acceptHandshake sends STREAM ACCEPT and reads the STATUS and peer lines.
func acceptHandshake(c *samConn, v version, id string) (samline.Message, error) {
	err := c.writeMsg(samline.Message{Verb: "STREAM", Sub: "ACCEPT", Args: []samline.Arg{
		{Key: "ID", Value: id}, {Key: "SILENT", Value: "false"},
	}}, v)
	if err != nil {
		return samline.Message{}, err
	}
	m, err := c.readMsg()
	if err != nil {
		return samline.Message{}, fmt.Errorf("STREAM ACCEPT: %w", err)
	}
	if err := expect(m, "STREAM", "STATUS"); err != nil {
		return samline.Message{}, err
	}
	if err := replyErr("STREAM ACCEPT", m); err != nil {
		return samline.Message{}, err
	}
	peer, err := c.readMsg()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
			err = errAcceptDropped
		}
		return samline.Message{}, fmt.Errorf("STREAM ACCEPT: waiting for a stream: %w", err)
	}
	return peer, nil
}

// parsePeerLine reads "$destination[ FROM_PORT=n TO_PORT=n]", the first
// line of an accepted stream (ports from SAM 3.2 on). It returns the
// remote address and the local port.
func parsePeerLine(m samline.Message) (remote, local i2pnet.Addr, err error) {
	d, err := data.ParseDestinationBase64(m.Verb)
	if err != nil {
		return remote, local, fmt.Errorf("%w: accepted stream: peer destination: %w", ErrProtocol, err)
	}
	remote.Dest = d
	for _, p := range []struct {
		key string
		dst *int
	}{{"FROM_PORT", &remote.Port}, {"TO_PORT", &local.Port}} {
		v, ok := m.Get(p.key)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			return remote, local, fmt.Errorf("%w: accepted stream: bad %s=%q", ErrProtocol, p.key, v)
		}
		*p.dst = n
	}
	return remote, local, nil
}
