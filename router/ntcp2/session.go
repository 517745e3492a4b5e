package ntcp2

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"i2pbridge/router/data"
)

// Session defaults.
const (
	// DefaultHandshakeTimeout bounds the whole handshake (i2pd
	// NTCP2_ESTABLISH_TIMEOUT is 10 s).
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a session after this long without a frame in
	// either direction, with a Termination block (reason 2). i2pd closes
	// established sessions idle for 120 s (NTCP2_TERMINATION_TIMEOUT); we
	// wait a little longer so that, between us and i2pd, i2pd is the one
	// that decides, and a session it still uses never dies under it.
	DefaultIdleTimeout = 150 * time.Second
	// DefaultWriteTimeout bounds one frame write; a peer that stops reading
	// for this long is dropped.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultQueueLen is the send queue capacity in blocks; Send blocks
	// when it is full (i2pd drops a session whose queue exceeds 500).
	DefaultQueueLen = 256
)

// Config configures Sessions (Dial, Client, Server) and Listeners.
// RouterInfo and Static are required; every other zero value picks a
// default.
type Config struct {
	// RouterInfo is our signed RouterInfo. Its netId option is our
	// network, its hash our identity (Bob's AES key), and one of its NTCP2
	// addresses must publish Static.Public as s (peers look for it).
	RouterInfo data.RouterInfo
	// Static is our NTCP2 static key and IV.
	Static StaticKey
	// Logger receives debug and warning events; nil discards them. Peers are
	// logged as short hashes; remote IPs only at debug level.
	Logger *slog.Logger
	// Now is the clock for handshake timestamps and RouterInfo age
	// (default time.Now). Timeouts use the runtime's timers.
	Now func() time.Time
	// Rand supplies ephemeral keys and handshake padding (default
	// crypto/rand).
	Rand io.Reader
	// PadLen picks padding lengths in [0, max] (default uniform random).
	PadLen func(max int) int
	// HandshakeTimeout, IdleTimeout, WriteTimeout and QueueLen: see the
	// Default constants.
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	WriteTimeout     time.Duration
	QueueLen         int
	// Replay is the SessionRequest replay cache. Server requires one;
	// Listen makes one when it is nil.
	Replay *ReplayCache
	// OnI2NP receives every I2NP message, from the session's reader
	// goroutine: a slow callback slows that peer down (TCP backpressure),
	// nothing else. The message body is the callback's to keep.
	OnI2NP func(s *Session, m I2NPMessage)
	// OnRouterInfo receives every RouterInfo block of the data phase whose
	// signature verifies (the peer's own, or a third party's), with the
	// block's flood flag. Same goroutine rules as OnI2NP.
	OnRouterInfo func(s *Session, ri data.RouterInfo, flood bool)
}

// config is a validated Config with defaults filled in.
type config struct {
	Config
	netID uint8
	log   *slog.Logger
}

func (c Config) validate() (*config, error) {
	if c.RouterInfo.IsZero() {
		return nil, fmt.Errorf("%w: no RouterInfo", ErrConfig)
	}
	id, err := c.RouterInfo.NetID()
	if err != nil || id < 0 || id > 255 {
		return nil, fmt.Errorf("%w: our RouterInfo netId: %d, %v", ErrConfig, id, err)
	}
	found := false
	for _, a := range c.RouterInfo.Addresses() {
		if n, err := a.NTCP2(); err == nil && n.StaticKey == c.Static.Public {
			if n.Published() && n.IV != c.Static.IV {
				return nil, fmt.Errorf("%w: our RouterInfo publishes an i that is not Static.IV", ErrConfig)
			}
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: our RouterInfo has no NTCP2 address with s = Static.Public; peers would refuse message 3", ErrConfig)
	}
	cc := &config{Config: c, netID: uint8(id), log: c.Logger}
	if cc.log == nil {
		cc.log = slog.New(slog.DiscardHandler)
	}
	if cc.HandshakeTimeout <= 0 {
		cc.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cc.IdleTimeout <= 0 {
		cc.IdleTimeout = DefaultIdleTimeout
	}
	if cc.WriteTimeout <= 0 {
		cc.WriteTimeout = DefaultWriteTimeout
	}
	if cc.QueueLen <= 0 {
		cc.QueueLen = DefaultQueueLen
	}
	return cc, nil
}

func (c *config) handshakeOptions() HandshakeOptions {
	return HandshakeOptions{Now: c.Now, Rand: c.Rand, PadLen: c.PadLen, Replay: c.Replay}
}

func (c *config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Dialer opens TCP connections; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Dial connects to the published NTCP2 address of peer and runs the
// handshake as Alice (see Client). d nil means a plain net.Dialer.
func Dial(ctx context.Context, d Dialer, cfg Config, peer data.RouterInfo) (*Session, error) {
	addr, err := PeerAddress(peer)
	if err != nil {
		return nil, fmt.Errorf("ntcp2: dial: %w", err)
	}
	if d == nil {
		d = &net.Dialer{}
	}
	conn, err := d.DialContext(ctx, "tcp", addr.AddrPort.String())
	if err != nil {
		return nil, fmt.Errorf("ntcp2: dial %s: %w", peer.Hash().Short(), err)
	}
	return Client(ctx, conn, cfg, peer)
}

// Client runs the handshake as Alice over conn towards peer, whose
// RouterInfo must verify, carry our netId and publish an NTCP2 address with
// s and i. It returns an established Session that owns conn; on failure conn
// is closed (with a TCP reset when possible, as the spec asks). The
// handshake ends at ctx's deadline or Config.HandshakeTimeout, whichever
// comes first.
func Client(ctx context.Context, conn net.Conn, cfg Config, peer data.RouterInfo) (*Session, error) {
	s, err := client(ctx, conn, cfg, peer)
	if err != nil {
		abort(conn)
		return nil, err
	}
	return s, nil
}

func client(ctx context.Context, conn net.Conn, cfg Config, peer data.RouterInfo) (*Session, error) {
	c, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("ntcp2: client: %w", err)
	}
	if err := peer.Verify(); err != nil {
		return nil, fmt.Errorf("ntcp2: client: peer %s: %w: %w", peer.Hash().Short(), ErrRouterInfo, err)
	}
	if id, err := peer.NetID(); err != nil || id != int(c.netID) {
		return nil, fmt.Errorf("ntcp2: client: peer %s: %w: netId %d (%v), ours %d", peer.Hash().Short(), ErrNetID, id, err, c.netID)
	}
	addr, err := PeerAddress(peer)
	if err != nil {
		return nil, fmt.Errorf("ntcp2: client: %w", err)
	}
	ini, err := NewInitiator(InitiatorConfig{
		HandshakeOptions: c.handshakeOptions(),
		NetID:            c.netID,
		Static:           c.Static,
		RouterInfo:       c.RouterInfo,
		PeerHash:         peer.Hash(),
		PeerStatic:       addr.StaticKey,
		PeerIV:           addr.IV,
	})
	if err != nil {
		return nil, fmt.Errorf("ntcp2: client: %w", err)
	}
	stop := handshakeDeadline(ctx, conn, c.HandshakeTimeout)
	defer stop()
	fail := func(err error) (*Session, error) {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, fmt.Errorf("ntcp2: client to %s: %w", peer.Hash().Short(), err)
	}
	start := time.Now()
	msg1, err := ini.SessionRequest()
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Write(msg1); err != nil {
		return fail(fmt.Errorf("write session request: %w", err))
	}
	head := make([]byte, HeadLen)
	if _, err := io.ReadFull(conn, head); err != nil {
		return fail(fmt.Errorf("read session created: %w", err))
	}
	padLen, err := ini.ReadSessionCreated(head)
	if err != nil {
		return fail(err)
	}
	pad := make([]byte, padLen)
	if _, err := io.ReadFull(conn, pad); err != nil {
		return fail(fmt.Errorf("read session created padding: %w", err))
	}
	msg3, err := ini.SessionConfirmed(pad)
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Write(msg3); err != nil {
		return fail(fmt.Errorf("write session confirmed: %w", err))
	}
	keys, err := ini.DataKeys()
	if err != nil {
		return fail(err)
	}
	stop()
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fail(err)
	}
	c.log.Debug("ntcp2: outbound session established", "peer", peer.Hash().Short(),
		"remote", conn.RemoteAddr().String(), "handshake", time.Since(start))
	return newSession(conn, c, peer, true, keys), nil
}

// Server runs the handshake as Bob over an accepted conn and returns an
// established Session that owns conn. The peer is identified by the
// RouterInfo in message 3 (see Responder.ReadSessionConfirmed for the
// checks). Config.Replay is required. On failure conn is closed without a
// word (TCP reset when possible), as the spec asks of Bob, except that a
// peer whose clock is off gets message 2 first (see Responder).
func Server(ctx context.Context, conn net.Conn, cfg Config) (*Session, error) {
	s, err := server(ctx, conn, cfg)
	if err != nil {
		abort(conn)
		return nil, err
	}
	return s, nil
}

func server(ctx context.Context, conn net.Conn, cfg Config) (*Session, error) {
	c, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("ntcp2: server: %w", err)
	}
	resp, err := NewResponder(ResponderConfig{
		HandshakeOptions: c.handshakeOptions(),
		NetID:            c.netID,
		Static:           c.Static,
		Hash:             c.RouterInfo.Hash(),
	})
	if err != nil {
		return nil, fmt.Errorf("ntcp2: server: %w", err)
	}
	stop := handshakeDeadline(ctx, conn, c.HandshakeTimeout)
	defer stop()
	fail := func(err error) (*Session, error) {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, fmt.Errorf("ntcp2: server: %w", err)
	}
	start := time.Now()
	head := make([]byte, HeadLen)
	if _, err := io.ReadFull(conn, head); err != nil {
		return fail(fmt.Errorf("read session request: %w", err))
	}
	padLen, err := resp.ReadSessionRequest(head)
	if err != nil {
		return fail(err)
	}
	pad := make([]byte, padLen)
	if _, err := io.ReadFull(conn, pad); err != nil {
		return fail(fmt.Errorf("read session request padding: %w", err))
	}
	msg2, err := resp.SessionCreated(pad)
	if errors.Is(err, ErrClockSkew) && msg2 != nil {
		// Tell Alice our time (see Responder), then close with a FIN, not
		// the reset abort sends, which could discard message 2 unsent.
		_, _ = conn.Write(msg2)
		_ = conn.Close()
		return fail(err)
	}
	if err != nil {
		return fail(err)
	}
	if _, err := conn.Write(msg2); err != nil {
		return fail(fmt.Errorf("write session created: %w", err))
	}
	msg3 := make([]byte, resp.ConfirmedLen())
	if _, err := io.ReadFull(conn, msg3); err != nil {
		return fail(fmt.Errorf("read session confirmed: %w", err))
	}
	peer, err := resp.ReadSessionConfirmed(msg3)
	if err != nil {
		return fail(err)
	}
	keys, err := resp.DataKeys()
	if err != nil {
		return fail(err)
	}
	stop()
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fail(err)
	}
	c.log.Debug("ntcp2: inbound session established", "peer", peer.Hash().Short(),
		"remote", conn.RemoteAddr().String(), "handshake", time.Since(start))
	return newSession(conn, c, peer, false, keys), nil
}

// handshakeDeadline sets conn's deadline to the earlier of ctx's deadline
// and now+timeout, and makes a cancellation of ctx expire it at once. The
// returned stop undoes the cancellation hook (not the deadline).
func handshakeDeadline(ctx context.Context, conn net.Conn, timeout time.Duration) (stop func() bool) {
	dl := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = conn.SetDeadline(dl)
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

// abort closes conn after a handshake failure, with a TCP RST when conn is
// TCP ("This should be an abnormal close (TCP RST)", ntcp2.rst §"AEAD Error
// Handling").
func abort(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// sessionState is a Session's one state variable:
//
//	sessionOpen ──Close / idle timeout / read error / peer Termination──▶ sessionClosing
//	sessionClosing ──Termination written (if any), conn closed, reader gone──▶ sessionClosed
//
// Only the run goroutine changes it; Send and State read it.
type sessionState uint32

const (
	sessionOpen sessionState = iota
	sessionClosing
	sessionClosed
)

func (s sessionState) String() string {
	switch s {
	case sessionOpen:
		return "open"
	case sessionClosing:
		return "closing"
	case sessionClosed:
		return "closed"
	}
	return fmt.Sprintf("sessionState(%d)", uint32(s))
}

// Session is an established NTCP2 connection in the data phase. It owns the
// connection and two goroutines: a reader loop that decrypts frames and
// dispatches their blocks, and a run loop (the sender) that drains a
// bounded queue into frames, enforces the idle timeout and performs the
// shutdown. Send and Close may be called from any goroutine.
type Session struct {
	conn      net.Conn
	cfg       *config
	log       *slog.Logger
	peer      data.RouterInfo
	initiator bool

	sealer *FrameSealer // run goroutine only
	opener *FrameOpener // reader goroutine only

	queue    chan Block
	closeReq chan Reason   // capacity 1: the first request wins
	readErr  chan error    // capacity 1: the reader's last word
	closing  chan struct{} // closed when the shutdown starts
	closed   chan struct{} // closed once the connection is closed and err is set
	done     chan struct{} // closed when both goroutines are gone

	state     atomic.Uint32 // sessionState
	recvCount atomic.Uint64 // valid frames received, for Termination blocks
	lastRecv  atomic.Int64  // monotonic nanoseconds since start of the last valid frame
	start     time.Time
	err       error // set by run before closed closes
	reader    sync.WaitGroup

	payloadBuf, frameBuf []byte // run goroutine only
}

func newSession(conn net.Conn, c *config, peer data.RouterInfo, initiator bool, keys DataKeys) *Session {
	s := &Session{
		conn:      conn,
		cfg:       c,
		log:       c.log.With("peer", peer.Hash().Short()),
		peer:      peer,
		initiator: initiator,
		sealer:    NewFrameSealer(&keys.Send, &keys.SendSip),
		opener:    NewFrameOpener(&keys.Recv, &keys.RecvSip),
		queue:     make(chan Block, c.QueueLen),
		closeReq:  make(chan Reason, 1),
		readErr:   make(chan error, 1),
		closing:   make(chan struct{}),
		closed:    make(chan struct{}),
		done:      make(chan struct{}),
		start:     time.Now(),
	}
	s.reader.Add(1)
	go s.readLoop()
	go s.run()
	return s
}

// Peer returns the peer's RouterInfo: the one dialled (Alice) or the one
// received in message 3 (Bob).
func (s *Session) Peer() data.RouterInfo { return s.peer }

// PeerHash is Peer().Hash().
func (s *Session) PeerHash() data.Hash { return s.peer.Hash() }

// Initiator reports whether we dialled (Alice).
func (s *Session) Initiator() bool { return s.initiator }

// LocalAddr and RemoteAddr are the connection's addresses.
func (s *Session) LocalAddr() net.Addr  { return s.conn.LocalAddr() }
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// State names the session state: "open", "closing" or "closed".
func (s *Session) State() string { return sessionState(s.state.Load()).String() }

// Done is closed once the session has ended and its goroutines are gone.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended (nil while it is open): a
// *TerminationError when a Termination block was sent or received, or the
// connection error.
func (s *Session) Err() error {
	select {
	case <-s.closed:
		return s.err
	default:
		return nil
	}
}

// Send queues an I2NP message. It blocks while the queue is full, until ctx
// ends or the session closes (ErrClosed). Bodies over MaxI2NPBodyLen are
// refused with ErrTooLarge: i2pd drops them.
func (s *Session) Send(ctx context.Context, m I2NPMessage) error {
	if len(m.Body) > MaxI2NPBodyLen {
		return fmt.Errorf("ntcp2: send: %w: I2NP body %d bytes, limit %d", ErrTooLarge, len(m.Body), MaxI2NPBodyLen)
	}
	return s.enqueue(ctx, m)
}

// SendRouterInfo queues a RouterInfo block (ours, refreshed, or a third
// party's); flood sets the flood-request flag, which only a floodfill
// honours.
func (s *Session) SendRouterInfo(ctx context.Context, ri data.RouterInfo, flood bool) error {
	b := RouterInfoBlock{RouterInfo: ri.Bytes()}
	if flood {
		b.Flag = RouterInfoFlagFlood
	}
	if b.Len() > MaxPayloadLen {
		return fmt.Errorf("ntcp2: send RouterInfo: %w", ErrTooLarge)
	}
	return s.enqueue(ctx, b)
}

func (s *Session) enqueue(ctx context.Context, b Block) error {
	select {
	case <-s.closing:
		return fmt.Errorf("ntcp2: send to %s: %w", s.peer.Hash().Short(), ErrClosed)
	default:
	}
	select {
	case s.queue <- b:
		return nil
	case <-s.closing:
		return fmt.Errorf("ntcp2: send to %s: %w", s.peer.Hash().Short(), ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("ntcp2: send to %s: %w", s.peer.Hash().Short(), ctx.Err())
	}
}

// Close ends the session with a Termination block (reason 0, normal close)
// and waits until it is gone. Blocks still queued are dropped.
func (s *Session) Close() error { return s.CloseWithReason(ReasonNormal) }

// CloseWithReason ends the session with a Termination block carrying r
// (ReasonShutdown when the router stops) and waits until the block is
// written and the connection closed. It does not wait for the reader
// goroutine, so OnI2NP and OnRouterInfo may call it; wait on Done for
// that. Closing a closed session does nothing.
func (s *Session) CloseWithReason(r Reason) error {
	select {
	case s.closeReq <- r:
	default:
	}
	<-s.closed
	return nil
}

// readLoop reads frames until the connection fails or a Termination block
// arrives, and hands its last error to run.
func (s *Session) readLoop() {
	defer s.reader.Done()
	err := s.readFrames(bufio.NewReaderSize(s.conn, 4096))
	select {
	case s.readErr <- err:
	default:
	}
}

// readError is a reader failure that calls for a Termination block.
type readError struct {
	reason Reason
	err    error
}

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

func (s *Session) readFrames(r *bufio.Reader) error {
	var field [2]byte
	for {
		if _, err := io.ReadFull(r, field[:]); err != nil {
			return err
		}
		n, err := s.opener.Length(field)
		if err != nil {
			// "Take the same error action for an invalid length field value"
			// as for an AEAD failure (ntcp2.rst §"AEAD Error Handling").
			return &readError{ReasonAEADFraming, err}
		}
		frame := make([]byte, n) // a fresh buffer: blocks handed to callbacks alias it
		if _, err := io.ReadFull(r, frame); err != nil {
			return err
		}
		payload, err := s.opener.Open(frame[:0], frame)
		if err != nil {
			// i2pd sends Termination reason 4 and closes at once; the spec's
			// random delay before it is left out, as i2pd leaves it out.
			return &readError{ReasonAEADFailure, err}
		}
		s.recvCount.Store(s.opener.Received())
		s.lastRecv.Store(int64(time.Since(s.start)))
		blocks, err := ParseBlocks(payload)
		if err != nil {
			return &readError{ReasonPayloadFormat, err}
		}
		for _, b := range blocks {
			if t, ok := b.(Termination); ok {
				return &TerminationError{Reason: t.Reason, Remote: true, Frames: t.Frames}
			}
			s.dispatch(b)
		}
	}
}

func (s *Session) dispatch(b Block) {
	switch v := b.(type) {
	case I2NPMessage:
		s.log.Debug("ntcp2: received I2NP", "type", v.Type, "id", v.ID, "len", len(v.Body))
		if s.cfg.OnI2NP != nil {
			s.cfg.OnI2NP(s, v)
		}
	case RouterInfoBlock:
		ri, n, err := data.ParseRouterInfo(v.RouterInfo)
		if err == nil && n != len(v.RouterInfo) {
			err = fmt.Errorf("%d trailing bytes", len(v.RouterInfo)-n)
		}
		if err == nil {
			err = ri.Verify()
		}
		if err != nil {
			// Like a bad DatabaseStore: dropped, not fatal to the session.
			s.log.Warn("ntcp2: dropping invalid RouterInfo block", "err", err)
			return
		}
		s.log.Debug("ntcp2: received RouterInfo", "ri", ri.Hash().Short(), "flag", v.Flag)
		if s.cfg.OnRouterInfo != nil {
			s.cfg.OnRouterInfo(s, ri, v.Flag&RouterInfoFlagFlood != 0)
		}
	case DateTime:
		skew := time.Duration(int64(v.Seconds)-s.cfg.now().Unix()) * time.Second
		s.log.Debug("ntcp2: received DateTime", "peer_clock_offset", skew)
	case Options:
		s.log.Debug("ntcp2: received Options (ignored)")
	case Padding:
	default:
		s.log.Debug("ntcp2: skipping unknown block", "type", b.BlockType(), "len", b.Len()-BlockHeaderLen)
	}
}

// run is the sender and owner of the session's lifetime: it writes the
// first frame, then frames from the queue, watches the idle timer, and on
// the first of Close, a reader failure, a write failure or idleness shuts
// the session down.
func (s *Session) run() {
	idle := time.NewTimer(s.cfg.IdleTimeout)
	defer idle.Stop()
	var lastSend time.Duration

	first := []Block{DateTime{Seconds: unixSeconds(s.cfg.now())}}
	if !s.initiator {
		// Alice has our RouterInfo from her netDb; this refreshes it, as
		// the spec allows Bob to do first thing in the data phase.
		first = append(first, RouterInfoBlock{RouterInfo: s.cfg.RouterInfo.Bytes()})
	}
	if err := s.writeFrame(first); err != nil {
		s.shutdown(fmt.Errorf("ntcp2: write: %w", err), nil)
		return
	}
	lastSend = time.Since(s.start)

	var carry Block
	for {
		var batch []Block
		if carry != nil {
			batch, carry = append(batch, carry), nil
		} else {
			select {
			case b := <-s.queue:
				batch = append(batch, b)
			case r := <-s.closeReq:
				s.shutdown(&TerminationError{Reason: r}, &Termination{Reason: r})
				return
			case err := <-s.readErr:
				s.readerFailed(err)
				return
			case <-idle.C:
				last := max(lastSend, time.Duration(s.lastRecv.Load()))
				quiet := time.Since(s.start) - last
				if quiet >= s.cfg.IdleTimeout {
					s.shutdown(&TerminationError{Reason: ReasonIdleTimeout}, &Termination{Reason: ReasonIdleTimeout})
					return
				}
				idle.Reset(s.cfg.IdleTimeout - quiet)
				continue
			}
		}
		// Pack whatever else is queued into the same frame, leaving room
		// for padding, as i2pd does (SendQueue).
		size := batch[0].Len()
	pack:
		for size < MaxPayloadLen-maxDataPadding {
			select {
			case b := <-s.queue:
				if size+b.Len() > MaxPayloadLen-maxDataPadding {
					carry = b
					break pack
				}
				batch = append(batch, b)
				size += b.Len()
			default:
				break pack
			}
		}
		if err := s.writeFrame(batch); err != nil {
			s.shutdown(fmt.Errorf("ntcp2: write: %w", err), nil)
			return
		}
		lastSend = time.Since(s.start)
	}
}

// maxDataPadding bounds the Padding block of a data frame (header
// included): about 6% of the payload, like i2pd's NTCP2_MAX_PADDING_RATIO,
// for frames up to 64 KiB.
const maxDataPadding = BlockHeaderLen + MaxPayloadLen*6/100

// paddingFor returns a Padding block for a payload of n bytes, or nil:
// a random length up to 6% of max(n, 256), the rule i2pd uses
// (CreatePaddingBlock), so that short frames still vary.
func (s *Session) paddingFor(n int) Block {
	limit := max(n, 256) * 6 / 100
	limit = min(limit, MaxPayloadLen-n-BlockHeaderLen)
	if limit <= 0 {
		return nil
	}
	o := s.cfg.handshakeOptions()
	p, err := o.padLen(limit)
	if err != nil || p == 0 {
		return nil
	}
	return Padding{Data: make([]byte, p)}
}

// writeFrame seals blocks (plus padding) into one frame and writes it with
// a single Write, as the spec asks ("buffers and then flushes the entire
// contents of data messages at once"). Only the run goroutine calls it; the
// payload and frame buffers are reused across frames.
func (s *Session) writeFrame(blocks []Block) error {
	return s.writeFrameWithin(blocks, s.cfg.WriteTimeout)
}

// terminationWriteTimeout bounds the farewell frame: a peer that does not
// read it promptly does not hold up Close for a whole WriteTimeout.
const terminationWriteTimeout = 3 * time.Second

func (s *Session) writeFrameWithin(blocks []Block, timeout time.Duration) error {
	payload, err := AppendBlocks(s.payloadBuf[:0], blocks...)
	if err != nil {
		return err
	}
	if pad := s.paddingFor(len(payload)); pad != nil {
		payload, _ = pad.Append(payload)
	}
	s.payloadBuf = payload
	frame, err := s.sealer.Seal(s.frameBuf[:0], payload)
	if err != nil {
		return err
	}
	s.frameBuf = frame
	if err := s.conn.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err = s.conn.Write(frame)
	return err
}

// readerFailed ends the session after the reader stopped.
func (s *Session) readerFailed(err error) {
	var re *readError
	var te *TerminationError
	switch {
	case errors.As(err, &te):
		s.log.Debug("ntcp2: peer terminated the session", "reason", te.Reason)
		s.shutdown(te, nil)
	case errors.As(err, &re):
		s.log.Warn("ntcp2: terminating session", "reason", re.reason, "err", re.err)
		s.shutdown(&TerminationError{Reason: re.reason, Err: re.err}, &Termination{Reason: re.reason})
	case errors.Is(err, io.EOF):
		s.shutdown(fmt.Errorf("ntcp2: connection closed by peer: %w", err), nil)
	default:
		s.shutdown(fmt.Errorf("ntcp2: read: %w", err), nil)
	}
}

// shutdown writes the Termination block (when term is set), closes the
// connection, records cause, and then waits for the reader before marking
// the session closed: in that order a callback running in the reader may
// call Close without deadlocking.
func (s *Session) shutdown(cause error, term *Termination) {
	s.state.Store(uint32(sessionClosing))
	close(s.closing)
	if term != nil {
		term.Frames = s.recvCount.Load()
		if err := s.writeFrameWithin([]Block{*term}, min(s.cfg.WriteTimeout, terminationWriteTimeout)); err != nil {
			s.log.Debug("ntcp2: could not send Termination", "err", err)
		}
	}
	_ = s.conn.Close()
	s.err = cause
	close(s.closed)
	s.reader.Wait()
	s.log.Debug("ntcp2: session closed", "cause", cause)
	s.state.Store(uint32(sessionClosed))
	close(s.done)
}
