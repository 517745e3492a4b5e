package streaming

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"i2pbridge/router/data"
)

// Manager runs the streaming protocol for one local destination: it
// dispatches incoming packets to streams, answers pings, opens streams
// (Dial) and hands accepted ones to its Listener. It starts no goroutine of
// its own; each stream has one, and Close waits for them all.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	local   data.Destination
	closing chan struct{} // closed by Close
	wg      sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	conns    map[uint32]*Conn           // by our stream ID
	incoming map[uint32]*Conn           // accepted streams, by the peer's stream ID
	pending  map[uint32]*pendingPackets // packets ahead of their SYN, by the peer's stream ID
	pendingN int                        // bytes in pending
	pings    map[uint32]chan struct{}   // outstanding pings, by their stream ID
	ln       *Listener
	// Peer stream IDs of recently finished incoming streams, oldest first,
	// so that a late duplicate of their SYN does not open a ghost stream
	// (streaming.html §"Future Work" names the problem).
	finished    []finishedStream
	finishedIDs map[uint32]int // ID -> how many entries in finished
}

type finishedStream struct {
	id uint32
	at time.Time
}

// finishedMemory is how long a finished incoming stream's SYN is
// recognised: longer than any SYN retransmission can be delayed.
const finishedMemory = 5 * time.Minute

// pendingPackets holds packets that arrived before their SYN
// (streaming.html §"Setup": "Recipients must buffer packets received on
// unknown streams for a short period of time").
type pendingPackets struct {
	pkts  []Packet
	bytes int
	timer *time.Timer
}

// NewManager checks cfg and returns a Manager for cfg.Keys' destination.
func NewManager(cfg Config) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	local := cfg.Keys.Destination()
	return &Manager{
		cfg:      cfg,
		log:      cfg.Logger.With("dest", local.Hash().Short()),
		local:    local,
		closing:  make(chan struct{}),
		conns:    make(map[uint32]*Conn),
		incoming: make(map[uint32]*Conn),
		pending:  make(map[uint32]*pendingPackets),
		pings:    make(map[uint32]chan struct{}),

		finishedIDs: make(map[uint32]int),
	}, nil
}

// Addr is the local destination, port 0.
func (m *Manager) Addr() Addr { return Addr{Dest: m.local} }

// NumStreams is the number of streams still running, in both directions.
func (m *Manager) NumStreams() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.conns)
}

// newStreamIDLocked picks a random nonzero stream ID not in use.
func (m *Manager) newStreamIDLocked() uint32 {
	for {
		id := rand.Uint32()
		if _, used := m.conns[id]; id != 0 && !used {
			return id
		}
	}
}

// startLocked registers c and starts its run loop. Adding to the wait
// group under m.mu, with closed false, lets Close wait for every loop.
func (m *Manager) startLocked(c *Conn) {
	m.conns[c.localID] = c
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		c.run()
	}()
}

// remove unregisters a finished stream.
func (m *Manager) remove(c *Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns[c.localID] == c {
		delete(m.conns, c.localID)
	}
	if !c.dialer && m.incoming[c.remoteID] == c {
		delete(m.incoming, c.remoteID)
		now := time.Now()
		m.pruneFinishedLocked(now)
		m.finished = append(m.finished, finishedStream{c.remoteID, now})
		m.finishedIDs[c.remoteID]++
	}
}

// pruneFinishedLocked forgets finished streams older than finishedMemory.
func (m *Manager) pruneFinishedLocked(now time.Time) {
	i := 0
	for ; i < len(m.finished) && now.Sub(m.finished[i].at) > finishedMemory; i++ {
		id := m.finished[i].id
		if m.finishedIDs[id]--; m.finishedIDs[id] <= 0 {
			delete(m.finishedIDs, id)
		}
	}
	m.finished = append(m.finished[:0], m.finished[i:]...)
}

// checkRemote refuses destinations whose packets we could never verify.
func checkRemote(remote data.Destination) error {
	if remote.IsZero() {
		return fmt.Errorf("%w: no destination", ErrUnsupported)
	}
	if t := remote.SigningType(); t != data.SigTypeEd25519 {
		return fmt.Errorf("%w: signing type %d (only Ed25519 is verified)", ErrUnsupported, t)
	}
	return nil
}

// open creates an outgoing stream and starts it.
func (m *Manager) open(remote data.Destination, port uint16, early bool) (*Conn, error) {
	if err := checkRemote(remote); err != nil {
		return nil, fmt.Errorf("streaming: dial: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("streaming: dial: %w", ErrClosed)
	}
	if len(m.conns) >= m.cfg.MaxStreams {
		return nil, fmt.Errorf("streaming: dial: %w (%d)", ErrTooManyStreams, m.cfg.MaxStreams)
	}
	c := newConn(m, m.newStreamIDLocked(), Addr{Dest: m.local}, Addr{Dest: remote, Port: int(port)}, 0, true)
	c.early = early
	m.startLocked(c)
	c.log.Debug("dialling", "port", port, "early", early)
	return c, nil
}

// Dial opens a stream to remote's port and waits until the peer's SYN
// arrives. If ctx ends first the stream is reset.
func (m *Manager) Dial(ctx context.Context, remote data.Destination, port uint16) (*Conn, error) {
	c, err := m.open(remote, port, false)
	if err != nil {
		return nil, err
	}
	select {
	case <-c.synced:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("streaming: dial %s: %w", remote, c.Err())
	case <-ctx.Done():
		c.abort()
		return nil, fmt.Errorf("streaming: dial %s: %w", remote, ctx.Err())
	}
}

// DialEarly opens a stream without waiting for the peer: the SYN is held
// for up to ConnectDelay so that it carries the first Write (and, after
// CloseWrite, the CLOSE), saving a round trip (streaming.html §"Overview":
// a small request and its answer can each fit in one message). If the peer
// refuses, Read and Write return ErrRefused.
func (m *Manager) DialEarly(remote data.Destination, port uint16) (*Conn, error) {
	return m.open(remote, port, true)
}

// Listen returns the Listener for incoming streams on every port. Until it
// is called, and after it is closed, SYNs are answered with RESET.
func (m *Manager) Listen() (*Listener, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("streaming: listen: %w", ErrClosed)
	}
	if m.ln != nil {
		return nil, fmt.Errorf("streaming: listen: %w", ErrListening)
	}
	m.ln = &Listener{m: m, wake: make(chan struct{})}
	return m.ln, nil
}

// Deliver hands the Manager one incoming packet: the uncompressed payload
// of an I2CP Data message with protocol 6, and the ports from its gzip
// header. It never blocks and may be called from any goroutine; it copies
// pkt. ctx bounds the replies it sends at once (pongs, refusals).
func (m *Manager) Deliver(ctx context.Context, pkt []byte, fromPort, toPort uint16) {
	if len(pkt) > maxPacketLen {
		m.log.Debug("oversized packet dropped", "len", len(pkt))
		return
	}
	p, _, err := Parse(append([]byte(nil), pkt...))
	if err != nil {
		m.log.Debug("unparseable packet dropped", "err", err)
		return
	}
	if p.Flags.Has(FlagEcho) {
		m.handleEcho(ctx, &p, fromPort, toPort)
		return
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	if p.SendStreamID != 0 {
		c := m.conns[p.SendStreamID]
		m.mu.Unlock()
		if c == nil {
			// Java answers with RESET; we cannot: without FROM we do not
			// know who sent it.
			m.log.Debug("packet for unknown stream dropped", "pkt", &p)
			return
		}
		c.enqueue(p)
		return
	}
	// sendStreamId 0: the dialer does not know our stream ID yet, so the
	// stream is found by its own ID (i2pd m_IncomingStreams).
	if c := m.incoming[p.ReceiveStreamID]; c != nil {
		m.mu.Unlock()
		c.enqueue(p)
		return
	}
	if p.Flags.Has(FlagSYN) {
		m.mu.Unlock()
		m.acceptSYN(ctx, p, fromPort, toPort)
		return
	}
	m.savePendingLocked(p)
	m.mu.Unlock()
}

// savePendingLocked keeps a packet that arrived ahead of its SYN for
// PendingTimeout, within small limits.
func (m *Manager) savePendingLocked(p Packet) {
	id := p.ReceiveStreamID
	ps := m.pending[id]
	if ps == nil {
		if id == 0 || len(m.pending) >= maxPendingStreams {
			return
		}
		ps = &pendingPackets{}
		ps.timer = time.AfterFunc(m.cfg.PendingTimeout, func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.pending[id] == ps {
				m.dropPendingLocked(id)
			}
		})
		m.pending[id] = ps
	}
	n := p.Len()
	if len(ps.pkts) < maxPendingPerStream && m.pendingN+n <= maxPendingBytes {
		ps.pkts = append(ps.pkts, p)
		ps.bytes += n
		m.pendingN += n
	}
}

// dropPendingLocked forgets the packets kept for a stream ID.
func (m *Manager) dropPendingLocked(id uint32) *pendingPackets {
	ps := m.pending[id]
	if ps != nil {
		ps.timer.Stop()
		m.pendingN -= ps.bytes
		delete(m.pending, id)
	}
	return ps
}

// acceptSYN opens an incoming stream for a verified SYN, or refuses it.
func (m *Manager) acceptSYN(ctx context.Context, p Packet, fromPort, toPort uint16) {
	if p.Seq != 0 || p.ReceiveStreamID == 0 || p.From.IsZero() {
		m.log.Debug("bad SYN dropped", "pkt", &p)
		return
	}
	if err := checkRemote(p.From); err != nil {
		m.log.Debug("SYN from unsupported destination dropped", "err", err)
		return
	}
	if err := p.Verify(p.From, time.Now()); err != nil {
		m.log.Debug("SYN with bad signature dropped", "err", err)
		return
	}
	m.mu.Lock()
	if c := m.incoming[p.ReceiveStreamID]; c != nil { // a copy raced us here
		m.mu.Unlock()
		c.enqueue(p)
		return
	}
	m.pruneFinishedLocked(time.Now())
	if m.finishedIDs[p.ReceiveStreamID] > 0 {
		m.mu.Unlock()
		m.log.Debug("late duplicate SYN of a finished stream dropped")
		return
	}
	var refuse string
	switch {
	case m.closed:
		refuse = "closed"
	case m.ln == nil:
		refuse = "not listening"
	case len(m.ln.queue) >= m.cfg.Backlog:
		refuse = "backlog full"
	case len(m.conns) >= m.cfg.MaxStreams:
		refuse = "too many streams"
	}
	if refuse != "" {
		m.mu.Unlock()
		m.log.Debug("SYN refused", "reason", refuse, "peer", p.From.Hash().Short())
		m.refuse(ctx, &p, fromPort, toPort)
		return
	}
	c := newConn(m, m.newStreamIDLocked(), Addr{Dest: m.local, Port: int(toPort)}, Addr{Dest: p.From, Port: int(fromPort)}, p.ReceiveStreamID, false)
	c.enqueue(p)
	if ps := m.dropPendingLocked(p.ReceiveStreamID); ps != nil {
		for _, q := range ps.pkts {
			c.enqueue(q)
		}
	}
	m.incoming[p.ReceiveStreamID] = c
	m.startLocked(c)
	m.ln.queue = append(m.ln.queue, c)
	m.ln.wakeLocked()
	m.mu.Unlock()
	c.log.Debug("accepted", "port", toPort)
}

// refuse answers a SYN we will not accept with a signed RESET. It has
// sequence 0 (we have no stream); i2pd 2.45 takes that for a plain ACK and
// lets its SYN time out, Java and this package report a refusal.
func (m *Manager) refuse(ctx context.Context, syn *Packet, fromPort, toPort uint16) {
	r := Packet{SendStreamID: syn.ReceiveStreamID, AckThrough: 0, Flags: FlagReset}
	m.reply(ctx, syn.From, &r, toPort, fromPort, true)
}

// reply sends a packet that belongs to no stream.
func (m *Manager) reply(ctx context.Context, to data.Destination, p *Packet, fromPort, toPort uint16, signed bool) {
	var b []byte
	var err error
	if signed {
		b, err = p.AppendSigned(nil, m.cfg.Keys)
	} else {
		b, err = p.Append(nil)
	}
	if err != nil {
		m.log.Warn("cannot encode reply", "pkt", p, "err", err)
		return
	}
	if err := m.cfg.Conn.SendPacket(ctx, to, fromPort, toPort, b); err != nil {
		m.log.Debug("reply not sent", "err", err)
	}
}

// handleEcho answers pings and matches pongs (streaming.html §"Ping /
// Pong"). A ping has ECHO, SIG and FROM and a nonzero sendStreamId; the
// pong has sendStreamId 0, receiveStreamId = the ping's sendStreamId, and
// up to 32 bytes of the ping's payload. i2pd 2.45 echoes the whole
// payload, and treats a ping whose sendStreamId is one of its streams as a
// packet of that stream.
func (m *Manager) handleEcho(ctx context.Context, p *Packet, fromPort, toPort uint16) {
	if p.SendStreamID == 0 {
		m.mu.Lock()
		ch := m.pings[p.ReceiveStreamID]
		m.mu.Unlock()
		if ch != nil {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		return
	}
	if m.cfg.RefusePings || p.From.IsZero() || checkRemote(p.From) != nil {
		return
	}
	if err := p.Verify(p.From, time.Now()); err != nil {
		m.log.Debug("ping with bad signature dropped", "err", err)
		return
	}
	pong := Packet{ReceiveStreamID: p.SendStreamID, Flags: FlagEcho, Payload: p.Payload[:min(len(p.Payload), MaxPingPayload)]}
	m.reply(ctx, p.From, &pong, toPort, fromPort, false)
}

// AckAll has every open stream send an ACK at once. The destination calls
// it when its LeaseSet changed: the next message to each peer carries the
// new one, and a peer whose packets go to a lease that is gone learns the
// new leases now rather than when we next have data for it.
func (m *Manager) AckAll() {
	m.mu.Lock()
	cs := make([]*Conn, 0, len(m.conns))
	for _, c := range m.conns {
		cs = append(cs, c)
	}
	m.mu.Unlock()
	for _, c := range cs {
		c.ackSoon.Store(true)
		c.wakeLoop()
	}
}

// Ping sends a signed ECHO to remote and waits for the pong, returning the
// round-trip time.
func (m *Manager) Ping(ctx context.Context, remote data.Destination) (time.Duration, error) {
	if err := checkRemote(remote); err != nil {
		return 0, fmt.Errorf("streaming: ping: %w", err)
	}
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0, fmt.Errorf("streaming: ping: %w", ErrClosed)
	}
	var id uint32
	for id == 0 || m.pings[id] != nil {
		id = rand.Uint32()
	}
	m.pings[id] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.pings, id)
		m.mu.Unlock()
	}()
	p := Packet{SendStreamID: id, Flags: FlagEcho | FlagFrom, From: m.local}
	start := time.Now()
	m.reply(ctx, remote, &p, 0, 0, true)
	select {
	case <-ch:
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("streaming: ping %s: %w", remote, ctx.Err())
	case <-m.closing:
		return 0, fmt.Errorf("streaming: ping: %w", ErrClosed)
	}
}

// Close resets every stream (sending RESET), closes the Listener and waits
// for the streams' goroutines to finish.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.closing)
	for id := range m.pending {
		m.dropPendingLocked(id)
	}
	if m.ln != nil {
		m.ln.closed = true
		m.ln.queue = nil
		m.ln.wakeLocked()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// Listener hands out streams the peer opened. It implements net.Listener.
type Listener struct {
	m      *Manager
	queue  []*Conn       // under m.mu
	wake   chan struct{} // under m.mu; closed and replaced on news
	closed bool          // under m.mu
}

func (l *Listener) wakeLocked() {
	close(l.wake)
	l.wake = make(chan struct{})
}

// Accept waits for the next incoming stream.
func (l *Listener) Accept() (net.Conn, error) {
	return l.AcceptStream(context.Background())
}

// AcceptStream waits for the next incoming stream or the end of ctx.
func (l *Listener) AcceptStream(ctx context.Context) (*Conn, error) {
	m := l.m
	m.mu.Lock()
	for {
		if l.closed {
			m.mu.Unlock()
			return nil, fmt.Errorf("streaming: accept: %w: %w", ErrClosed, net.ErrClosed)
		}
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			m.mu.Unlock()
			return c, nil
		}
		wake := l.wake
		m.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, fmt.Errorf("streaming: accept: %w", ctx.Err())
		}
		m.mu.Lock()
	}
}

// Close stops accepting: queued streams are reset and new SYNs refused.
// Accepted streams go on. Listen may be called again afterwards.
func (l *Listener) Close() error {
	m := l.m
	m.mu.Lock()
	if l.closed {
		m.mu.Unlock()
		return nil
	}
	l.closed = true
	queued := l.queue
	l.queue = nil
	l.wakeLocked()
	if m.ln == l {
		m.ln = nil
	}
	m.mu.Unlock()
	for _, c := range queued {
		c.abort()
	}
	return nil
}

// Addr is the local destination.
func (l *Listener) Addr() net.Addr { return l.m.Addr() }
