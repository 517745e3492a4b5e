package streaming

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// connState is a stream's one state variable. Only the run goroutine
// changes it. It tracks the close handshake; the opening handshake is
// "isSynced" (the peer's SYN has been processed), which Dial waits for.
//
//	              CloseWrite/Close                  peer CLOSE
//	        ┌──────────────────▶ stateLocalClosed ─────────────┐
//	        │  (our CLOSE queued behind the data)              ▼
//	stateOpen                                            stateClosing ── our CLOSE and all data acked ──▶ stateDone
//	        │                                                  ▲
//	        └──────────────────▶ stateRemoteClosed ────────────┘
//	              peer CLOSE      (Read gives io.EOF)   CloseWrite/Close
//
//	any state ── RESET sent or received, MaxResends exhausted, unanswered
//	             keepalive probes, CloseTimeout after Close, Manager.Close ──▶ stateDone (with an error)
//
// The peer's CLOSE counts when it is delivered in order, after all its
// data. CLOSE and SYN may share a packet, and either may carry data
// (streaming.html §"Close", §"Setup").
type connState uint8

const (
	stateOpen connState = iota
	stateLocalClosed
	stateRemoteClosed
	stateClosing
	stateDone
)

func (s connState) String() string {
	switch s {
	case stateOpen:
		return "open"
	case stateLocalClosed:
		return "local-closed"
	case stateRemoteClosed:
		return "remote-closed"
	case stateClosing:
		return "closing"
	case stateDone:
		return "done"
	}
	return fmt.Sprintf("connState(%d)", uint8(s))
}

// ConnStats are counters of one stream, for tests and status pages.
type ConnStats struct {
	PacketsSent     uint64 // every packet, ACKs and retransmissions included
	Retransmissions uint64
	PacketsReceived uint64 // packets accepted for this stream
	Duplicates      uint64 // sequenced packets received more than once
	Dropped         uint64 // sequenced packets refused for lack of buffer
	Window          int    // congestion window, packets
	RTT             time.Duration
	RTO             time.Duration
}

// Conn is one stream; it implements net.Conn with CloseWrite (a half-close).
// Its protocol state belongs to one goroutine, the run loop; Read, Write
// and Close only exchange bytes and requests with it under a mutex and wake
// it up.
type Conn struct {
	m       *Manager
	log     *slog.Logger
	localID uint32 // our stream ID: receiveStreamId in our packets
	local   Addr
	remote  Addr
	dialer  bool

	// Packets for this stream, queued by Manager.Deliver.
	inMu   sync.Mutex
	inQ    []Packet
	inWake chan struct{} // capacity 1

	// Shared between the application and the run loop.
	mu       sync.Mutex
	rq       byteQueue // in-order bytes not yet read
	rEOF     bool      // the peer's CLOSE was delivered
	wq       byteQueue // written bytes not yet packetised
	wShut    bool      // CloseWrite or Close was called
	closed   bool      // Close was called
	abortReq bool      // reset the stream (Dial gave up, listener closed)
	ended    bool      // the run loop has finished
	err      error     // why it ended abnormally
	readCh   chan struct{}
	writeCh  chan struct{}
	wantRead bool // the loop wants a wake-up when Read frees buffer space
	rdl, wdl *deadline
	loopWake chan struct{} // capacity 1
	ackSoon  atomic.Bool   // Manager.AckAll: send an ACK at the next pass

	synced chan struct{} // closed when the peer's SYN has been processed
	done   chan struct{} // closed when the run loop has exited

	stats struct {
		sent, resent, received, dups, dropped atomic.Uint64
		window, rtt, rto                      atomic.Int64
	}

	// Owned by the run loop.
	state       connState
	remoteID    uint32
	snd         sender
	rcv         receiver
	sendMTU     int
	isSynced    bool
	synSent     bool
	early       bool // DialEarly: the SYN waits for data, CloseWrite or ConnectDelay
	synHoldAt   time.Time
	closeQueued bool // the write side is shut: CLOSE follows the data
	closeSent   bool
	appClosed   bool // Close was called: incoming data is acknowledged and dropped
	lingerAt    time.Time
	probeAt     time.Time
	probes      int
	probeEmpty  bool // send an empty data packet as a keepalive
	choking     bool // our packets carry DELAY 60001
	unchoke     bool // our packets carry DELAY 0 until the peer sends again
	termErr     error
	buf         []byte // encoding scratch
}

func newConn(m *Manager, localID uint32, local, remote Addr, remoteID uint32, dialer bool) *Conn {
	c := &Conn{
		m:        m,
		log:      m.log.With("sid", localID, "peer", remote.Dest.Hash().Short()),
		localID:  localID,
		local:    local,
		remote:   remote,
		dialer:   dialer,
		inWake:   make(chan struct{}, 1),
		readCh:   make(chan struct{}),
		writeCh:  make(chan struct{}),
		rdl:      newDeadline(),
		wdl:      newDeadline(),
		loopWake: make(chan struct{}, 1),
		synced:   make(chan struct{}),
		done:     make(chan struct{}),
		remoteID: remoteID,
		snd:      newSender(&m.cfg),
		sendMTU:  min(m.cfg.MTU, DefaultMTU),
	}
	return c
}

// maxInbound bounds the packets queued for the run loop; beyond it packets
// are dropped like any lost packet.
func (c *Conn) maxInbound() int { return 4*c.m.cfg.MaxWindow + 64 }

// enqueue hands a packet to the run loop; it never blocks.
func (c *Conn) enqueue(p Packet) {
	c.inMu.Lock()
	if len(c.inQ) < c.maxInbound() {
		c.inQ = append(c.inQ, p)
	}
	c.inMu.Unlock()
	select {
	case c.inWake <- struct{}{}:
	default:
	}
}

func (c *Conn) wakeLoop() {
	select {
	case c.loopWake <- struct{}{}:
	default:
	}
}

// wakeReaders and wakeWriters must be called with c.mu held.
func (c *Conn) wakeReaders() {
	close(c.readCh)
	c.readCh = make(chan struct{})
}

func (c *Conn) wakeWriters() {
	close(c.writeCh)
	c.writeCh = make(chan struct{})
}

// abort asks the run loop to reset the stream.
func (c *Conn) abort() {
	c.mu.Lock()
	c.abortReq = true
	c.mu.Unlock()
	c.wakeLoop()
}

// run is the stream's owner goroutine. ctx lives exactly as long as it and
// is what packets are sent with.
func (c *Conn) run() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := &c.m.cfg
	now := time.Now()
	c.resetProbe(now)
	if c.early {
		c.synHoldAt = now.Add(cfg.ConnectDelay)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	c.drainInbound(ctx, now) // an accepted stream starts with the peer's SYN
	c.syncApp(ctx, now)
	c.flush(ctx, now)
	for c.state != stateDone {
		if at, ok := c.nextDeadline(); ok {
			timer.Reset(time.Until(at))
		} else {
			timer.Stop()
		}
		select {
		case <-c.inWake:
			c.drainInbound(ctx, time.Now())
		case <-c.loopWake:
			c.syncApp(ctx, time.Now())
		case <-timer.C:
			c.onTimer(ctx, time.Now())
		case <-c.m.closing:
			c.terminate(ctx, ErrClosed, true)
		}
		if c.ackSoon.Swap(false) && c.remoteID != 0 && c.state != stateDone {
			c.rcv.ackNow = true
		}
		c.flush(ctx, time.Now())
		c.publishStats()
	}
	c.finish()
}

// finish runs after the loop: unregister, release waiters, record why.
func (c *Conn) finish() {
	c.m.remove(c)
	c.mu.Lock()
	c.ended = true
	c.err = c.termErr
	c.wq.release()
	c.wakeReaders()
	c.wakeWriters()
	c.mu.Unlock()
	c.rdl.stop()
	c.wdl.stop()
	if c.termErr != nil {
		c.log.Debug("stream reset", "err", c.termErr)
	} else {
		c.log.Debug("stream closed")
	}
	close(c.done)
}

func (c *Conn) publishStats() {
	c.stats.window.Store(int64(c.snd.window()))
	c.stats.rtt.Store(int64(c.snd.rto.srtt))
	c.stats.rto.Store(int64(c.snd.rto.rto))
}

// nextDeadline is the earliest timer the loop must wake for.
func (c *Conn) nextDeadline() (time.Time, bool) {
	var at time.Time
	for _, t := range []time.Time{c.snd.rtoDeadline, c.rcv.ackAt, c.lingerAt, c.probeAt} {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if c.early && !c.synSent && (at.IsZero() || c.synHoldAt.Before(at)) {
		at = c.synHoldAt
	}
	return at, !at.IsZero()
}

func (c *Conn) resetProbe(now time.Time) {
	c.probes = 0
	if c.m.cfg.InactivityTimeout > 0 {
		c.probeAt = now.Add(c.m.cfg.InactivityTimeout)
	}
}

// terminate ends the stream abnormally, with a signed RESET to the peer if
// sendReset is set and the peer may know of the stream.
func (c *Conn) terminate(ctx context.Context, err error, sendReset bool) {
	if c.state == stateDone {
		return
	}
	if sendReset && c.synSent {
		c.sendReset(ctx)
	}
	c.state, c.termErr = stateDone, err
}

// finishGraceful ends a stream whose CLOSEs have both been delivered,
// acknowledging the peer's CLOSE first.
func (c *Conn) finishGraceful(ctx context.Context) {
	if c.rcv.ackNow || c.rcv.pending > 0 {
		c.sendAck(ctx)
	}
	c.state = stateDone
}

// maybeFinish ends the stream once both CLOSEs are through.
func (c *Conn) maybeFinish(ctx context.Context) {
	if c.state == stateClosing && c.closeSent && len(c.snd.unacked) == 0 {
		c.finishGraceful(ctx)
	}
}

// syncApp picks up what the application asked for since the last wake-up.
func (c *Conn) syncApp(ctx context.Context, now time.Time) {
	c.mu.Lock()
	wShut, closed, abort, queued := c.wShut, c.closed, c.abortReq, c.wq.len()
	c.mu.Unlock()
	if abort {
		c.terminate(ctx, ErrClosed, true)
		return
	}
	if closed && !c.appClosed {
		c.appClosed = true
		c.lingerAt = now.Add(c.m.cfg.CloseTimeout)
		for _, p := range c.rcv.ooo {
			p.Payload = nil
		}
		c.rcv.oooBytes = 0
	}
	if wShut && !c.closeQueued {
		c.closeQueued = true
		switch c.state {
		case stateOpen:
			c.state = stateLocalClosed
		case stateRemoteClosed:
			c.state = stateClosing
		}
	}
	if c.early && (queued > 0 || wShut) {
		c.early = false
	}
	c.updateChoke()
}

// onTimer handles whichever deadlines have passed.
func (c *Conn) onTimer(ctx context.Context, now time.Time) {
	if !c.snd.rtoDeadline.IsZero() && !now.Before(c.snd.rtoDeadline) {
		if !c.snd.onRTO(now) {
			c.log.Debug("retransmissions exhausted", "resends", c.m.cfg.MaxResends)
			c.terminate(ctx, ErrTimeout, false)
			return
		}
		if ps, ok := c.m.cfg.Conn.(PathSwitcher); ok && c.snd.pathSwitchDue() {
			c.log.Debug("switching path after timeouts", "timeouts", c.snd.timeouts)
			ps.SwitchPath(c.remote.Dest)
			if c.snd.timeouts == 2 {
				// Only the first switch of a streak restarts the timer
				// (i2pd too): later ones keep the backoff, or a peer that
				// is really gone would use up MaxResends in a second.
				c.snd.pathSwitched(now)
			}
		}
	}
	if !c.rcv.ackAt.IsZero() && !now.Before(c.rcv.ackAt) {
		c.rcv.ackNow = true
	}
	if !c.lingerAt.IsZero() && !now.Before(c.lingerAt) {
		c.log.Debug("close timeout")
		c.terminate(ctx, ErrTimeout, true)
		return
	}
	if c.early && !c.synSent && !now.Before(c.synHoldAt) {
		c.early = false
	}
	if !c.probeAt.IsZero() && !now.Before(c.probeAt) {
		c.probe(ctx, now)
	}
}

// probe runs when nothing has been heard for InactivityTimeout. While
// packets are in flight the retransmission timer already tests the peer.
// Otherwise we send something the peer must answer: an empty data packet
// if we may still send data, else a duplicate of our last sequence number,
// which both i2pd and this package answer with an immediate ACK. After
// MaxResends unanswered probes the stream fails with ErrTimeout.
func (c *Conn) probe(ctx context.Context, now time.Time) {
	cfg := &c.m.cfg
	if len(c.snd.unacked) > 0 || !c.synSent {
		c.probeAt = now.Add(cfg.InactivityTimeout)
		return
	}
	if c.probes >= cfg.MaxResends {
		c.log.Debug("keepalive unanswered", "probes", c.probes)
		c.terminate(ctx, ErrTimeout, false)
		return
	}
	c.probes++
	backoff := min(c.snd.rto.rto<<c.probes, cfg.MaxRTO)
	c.probeAt = now.Add(backoff)
	if !c.closeSent {
		c.probeEmpty = true
		return
	}
	if c.snd.nextSeq >= 2 && c.remoteID != 0 {
		p := Packet{SendStreamID: c.remoteID, ReceiveStreamID: c.localID, Seq: c.snd.nextSeq - 1}
		c.fillAck(&p)
		c.send(ctx, &p, false)
	}
}

// drainInbound processes the packets Deliver queued.
func (c *Conn) drainInbound(ctx context.Context, now time.Time) {
	c.inMu.Lock()
	q := c.inQ
	c.inQ = nil
	c.inMu.Unlock()
	for i := range q {
		if c.state == stateDone {
			return
		}
		c.handle(ctx, &q[i], now)
	}
}

// handle processes one packet addressed to this stream.
func (c *Conn) handle(ctx context.Context, p *Packet, now time.Time) {
	if p.ReceiveStreamID != 0 {
		switch {
		case c.remoteID == 0:
			// The dialer learns the peer's stream ID from its first
			// packet, normally the SYN reply (streaming.rst, sendStreamId).
			c.remoteID = p.ReceiveStreamID
		case p.ReceiveStreamID != c.remoteID:
			c.log.Debug("packet from another stream dropped", "pkt", p)
			return
		}
	}
	if p.Flags&(FlagSYN|FlagClose|FlagReset) != 0 {
		if err := c.verify(p, now); err != nil {
			// i2pd closes the stream on a bad signature; dropping the
			// packet keeps a forger from killing it.
			c.log.Debug("packet with bad signature dropped", "pkt", p, "err", err)
			return
		}
	}
	c.stats.received.Add(1)
	c.resetProbe(now)
	if p.Flags.Has(FlagReset) {
		// Acted on at any sequence number, as Java does (it sends RESETs
		// with sequence 0). i2pd 2.45 only processes a RESET in order.
		err := ErrReset
		if !c.isSynced {
			err = ErrRefused
		}
		c.log.Debug("reset by peer", "synced", c.isSynced)
		c.terminate(ctx, err, false)
		return
	}
	// Absent DELAY unchokes: a choking peer puts it in every packet.
	if choked := p.Choked(); choked != c.snd.choked {
		if choked {
			c.snd.choke()
		} else {
			c.snd.unchoke(now)
		}
	}
	if !p.Flags.Has(FlagNoAck) {
		if n := c.snd.onAck(now, p.AckThrough, p.NACKs); n > 0 {
			c.maybeFinish(ctx)
			if c.state == stateDone {
				return
			}
		}
	}
	c.receive(ctx, p, now)
}

// verify checks a packet that must be signed: SYN (with FROM), CLOSE and
// RESET (streaming.rst, flags 0-3). The signer is always the destination
// the stream is with; a SYN naming another destination is refused.
func (c *Conn) verify(p *Packet, now time.Time) error {
	if p.Flags.Has(FlagSYN) && p.From.IsZero() {
		return fmt.Errorf("%w: SYN without FROM", ErrMalformed)
	}
	if !p.From.IsZero() && p.From != c.remote.Dest {
		return fmt.Errorf("%w: FROM %s is not the stream's peer", ErrBadSignature, p.From.Hash().Short())
	}
	return p.Verify(c.remote.Dest, now)
}

// receive handles the sequenced part of a packet.
func (c *Conn) receive(ctx context.Context, p *Packet, now time.Time) {
	cfg := &c.m.cfg
	if p.IsPlainAck() {
		// i2pd answers a SYN+CLOSE with a signed CLOSE at sequence 0
		// without SYN (Stream::ProcessPacket calls SendClose before it
		// has sent its SYN). Before we have anything from the peer, that
		// is its first and last packet, not a plain ACK.
		if !p.Flags.Has(FlagClose) || c.rcv.next != 0 {
			return
		}
	}
	if p.Flags.Has(FlagSYN) && p.Seq != 0 {
		c.log.Debug("SYN with nonzero sequence dropped", "pkt", p)
		return
	}
	if c.rcv.finished && p.Seq > c.rcv.finSeq {
		return // nothing follows the peer's CLOSE
	}
	switch {
	case p.Seq < c.rcv.next:
		c.stats.dups.Add(1)
		c.rcv.ackNow = true // the peer may have missed our ACK
		if p.Flags.Has(FlagSYN) {
			// The peer resent its SYN: it has not seen our SYN reply, and
			// only that (not an ACK) lets its Dial return. Resend it now
			// rather than after our own 9-second initial RTO.
			c.snd.resendSYN()
		}
	case p.Seq == c.rcv.next:
		if !c.roomInOrder(len(p.Payload)) {
			c.refuse()
			return
		}
		c.deliver(ctx, p)
		for q := c.rcv.take(); q != nil; q = c.rcv.take() {
			c.deliver(ctx, q)
		}
		if c.rcv.pending >= cfg.AckEvery {
			c.rcv.ackNow = true
		} else if c.rcv.ackAt.IsZero() {
			c.rcv.ackAt = now.Add(c.ackDelay())
		}
		c.updateChoke()
		c.maybeFinish(ctx)
	default:
		if p.Seq-c.rcv.next > uint32(4*cfg.MaxWindow) {
			c.rcv.ackNow = true
			return
		}
		if _, dup := c.rcv.ooo[p.Seq]; dup {
			c.stats.dups.Add(1)
			c.rcv.ackNow = true
			return
		}
		if !c.room(len(p.Payload)) {
			c.refuse()
			return
		}
		if c.appClosed {
			p.Payload = nil
		}
		c.rcv.store(p)
		c.rcv.ackNow = true // NACK the gap at once: the sender's fast retransmit
		c.updateChoke()
	}
}

// ackDelay is how long an ACK for in-order data may wait: a tenth of the
// RTT, within [1 ms, AckDelay] (i2pd uses RTT/10 capped by its ack delay).
func (c *Conn) ackDelay() time.Duration {
	d := c.m.cfg.AckDelay
	if c.snd.rto.sampled {
		d = min(d, max(c.snd.rto.srtt/10, time.Millisecond))
	}
	return d
}

// buffered is the receive buffer in use: unread plus out-of-order bytes.
func (c *Conn) buffered() int {
	c.mu.Lock()
	n := c.rq.len()
	c.mu.Unlock()
	return n + c.rcv.oooBytes
}

// room reports whether n more out-of-order payload bytes fit the receive
// buffer. After Close nothing is kept, so everything fits.
func (c *Conn) room(n int) bool {
	return n == 0 || c.appClosed || c.buffered()+n <= c.m.cfg.MaxReceiveBuffer
}

// roomInOrder is room for the packet that fills the first gap. It ignores
// the out-of-order bytes: those were acknowledged and cannot be dropped, and
// if they could keep the gap from being filled the stream would be stuck
// once they fill the buffer. So the buffer can reach twice
// MaxReceiveBuffer, when the gap is filled and the stored packets move
// behind it.
func (c *Conn) roomInOrder(n int) bool {
	if n == 0 || c.appClosed {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rq.len()+n <= c.m.cfg.MaxReceiveBuffer
}

// refuse drops a packet for lack of buffer; the ACK we send says we are
// choking, so a peer that listens stops (i2pd does not, and retransmits).
func (c *Conn) refuse() {
	c.log.Debug("receive buffer full, packet dropped", "buffered", c.buffered(), "out of order", c.rcv.oooBytes, "next", c.rcv.next)
	c.stats.dropped.Add(1)
	c.choking = true
	c.rcv.ackNow = true
	c.mu.Lock()
	c.wantRead = true
	c.mu.Unlock()
}

// updateChoke starts choking above half the receive buffer and stops below
// a quarter (streaming.rst, DELAY > 60000 "indicates choking").
func (c *Conn) updateChoke() {
	b, limit := c.buffered(), c.m.cfg.MaxReceiveBuffer
	switch {
	case !c.choking && b >= limit/2:
		c.choking = true
		c.mu.Lock()
		c.wantRead = true
		c.mu.Unlock()
	case c.choking && b < limit/4:
		c.choking, c.unchoke = false, true
		c.rcv.ackNow = true
	}
}

// deliver consumes the next in-order packet.
func (c *Conn) deliver(ctx context.Context, p *Packet) {
	if p.Seq == 0 {
		c.onPeerSyn(p)
	}
	if len(p.Payload) > 0 && !c.appClosed {
		c.mu.Lock()
		c.rq.write(p.Payload)
		c.wakeReaders()
		c.mu.Unlock()
	}
	if len(p.Payload) > 0 {
		c.unchoke = false // the peer is sending again
	}
	c.rcv.next = p.Seq + 1
	c.rcv.pending++
	if !p.Flags.Has(FlagClose) {
		return
	}
	c.rcv.finished, c.rcv.finSeq = true, p.Seq
	c.rcv.ackNow = true
	c.mu.Lock()
	c.rEOF = true
	c.wakeReaders()
	c.mu.Unlock()
	switch c.state {
	case stateOpen:
		c.state = stateRemoteClosed
	case stateLocalClosed:
		c.state = stateClosing
	}
	c.log.Debug("peer closed", "state", c.state)
}

// onPeerSyn records the peer's first packet: its MAXSIZE, and that Dial can
// return.
func (c *Conn) onPeerSyn(p *Packet) {
	if c.isSynced {
		return
	}
	c.isSynced = true
	// We honour MAXSIZE; i2pd 2.45 reads it and ignores it, sending 1812
	// over ratchets whatever we announce (which is why we announce 1812).
	mtu := DefaultMTU
	if p.Flags.Has(FlagMaxSize) {
		mtu = max(int(p.MaxSize), MinMTU)
	}
	c.sendMTU = min(c.m.cfg.MTU, mtu)
	close(c.synced)
}

// flush sends whatever the window, the send buffer and the ACK state call
// for: the SYN, retransmissions, new data, the CLOSE, and a plain ACK if
// nothing else carried one.
func (c *Conn) flush(ctx context.Context, now time.Time) {
	if c.state == stateDone {
		return
	}
	if !c.synSent && !c.early {
		c.sendNew(ctx, now, true)
	}
	for c.synSent && c.snd.inflight() < c.snd.window() {
		if op := c.snd.firstLost(); op != nil {
			c.stats.resent.Add(1)
			c.transmit(ctx, op, now)
			continue
		}
		if !c.sendNew(ctx, now, false) {
			break
		}
	}
	if c.rcv.ackNow || (c.rcv.pending > 0 && !c.rcv.ackAt.IsZero() && !now.Before(c.rcv.ackAt)) {
		c.sendAck(ctx)
	}
}

// sendNew sends the next new packet: the SYN, data, the CLOSE (on the last
// data if it fits), or a keepalive. It reports false when there is nothing
// to send.
func (c *Conn) sendNew(ctx context.Context, now time.Time, syn bool) bool {
	if c.closeSent {
		return false
	}
	c.mu.Lock()
	n := min(c.wq.len(), c.sendMTU)
	closing := c.closeQueued && c.wq.len() == n
	if !syn && n == 0 && !closing && !c.probeEmpty {
		c.mu.Unlock()
		return false
	}
	payload := c.wq.next(n)
	if n > 0 {
		c.wakeWriters()
	}
	c.mu.Unlock()
	var flags Flags
	if syn {
		flags |= FlagSYN
		c.synSent = true
	}
	if closing {
		flags |= FlagClose
		c.closeSent = true
	}
	c.probeEmpty = false
	c.transmit(ctx, c.snd.add(flags, payload), now)
	return true
}

// transmit sends (or resends) a sequenced packet with fresh ACK fields.
func (c *Conn) transmit(ctx context.Context, op *outPacket, now time.Time) {
	p := Packet{
		SendStreamID:    c.remoteID,
		ReceiveStreamID: c.localID,
		Seq:             op.seq,
		ResendDelay:     uint8(min(c.snd.rto.rto/time.Second, 255)),
		Flags:           op.flags,
		Payload:         op.payload,
	}
	if op.flags.Has(FlagSYN) {
		// A SYN carries FROM, MAXSIZE and a signature (streaming.rst,
		// flag 0; i2pd Stream::SendBuffer), and NO_ACK until we have heard
		// from the peer.
		p.Flags |= FlagFrom | FlagMaxSize
		p.From = c.m.local
		p.MaxSize = uint16(c.m.cfg.MTU)
	}
	c.fillAck(&p)
	c.snd.onSent(op, now)
	c.send(ctx, &p, op.flags&(FlagSYN|FlagClose) != 0)
}

// fillAck sets ackThrough and NACKs (or NO_ACK) and our choke state.
func (c *Conn) fillAck(p *Packet) {
	if at, nacks, ok := c.rcv.ackFields(); ok {
		p.AckThrough, p.NACKs = at, nacks
	} else {
		p.Flags |= FlagNoAck
	}
	c.rcv.acked()
	switch {
	case c.choking:
		p.Flags |= FlagDelay
		p.Delay = ChokeDelay
	case c.unchoke:
		p.Flags |= FlagDelay
		p.Delay = 0
	}
}

// sendAck sends a plain ACK: sequence 0, no SYN, nothing to acknowledge.
func (c *Conn) sendAck(ctx context.Context) {
	if c.remoteID == 0 {
		c.rcv.acked()
		return
	}
	p := Packet{SendStreamID: c.remoteID, ReceiveStreamID: c.localID}
	c.fillAck(&p)
	c.send(ctx, &p, false)
}

// sendReset sends a signed RESET. It takes the next sequence number so that
// i2pd, which only acts on RESETs in order, can see it.
func (c *Conn) sendReset(ctx context.Context) {
	p := Packet{SendStreamID: c.remoteID, ReceiveStreamID: c.localID, Seq: c.snd.nextSeq, Flags: FlagReset}
	c.snd.nextSeq++
	c.fillAck(&p)
	c.send(ctx, &p, true)
}

// send encodes p (signing it if asked) and hands it to the PacketConn.
func (c *Conn) send(ctx context.Context, p *Packet, signed bool) {
	var err error
	if signed {
		c.buf, err = p.AppendSigned(c.buf[:0], c.m.cfg.Keys)
	} else {
		c.buf, err = p.Append(c.buf[:0])
	}
	if err != nil {
		c.log.Warn("cannot encode packet", "pkt", p, "err", err)
		return
	}
	c.stats.sent.Add(1)
	if err := c.m.cfg.Conn.SendPacket(ctx, c.remote.Dest, uint16(c.local.Port), uint16(c.remote.Port), c.buf); err != nil {
		c.log.Debug("send failed", "pkt", p, "err", err)
	}
}
