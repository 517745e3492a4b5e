package streaming

import (
	"slices"
	"time"
)

// rtoEstimator is the retransmission timer of RFC 6298 §2 with alpha 1/8,
// beta 1/4 and K 4, the constants streaming.html §"Other Parameters" names.
// i2pd 2.45 instead keeps a running mean of all samples and uses 1.5 × RTT
// (Stream::ProcessAck, "TODO: implement it better").
type rtoEstimator struct {
	srtt, rttvar time.Duration
	rto          time.Duration
	min, max     time.Duration
	sampled      bool
}

// clockGranularity is RFC 6298's G: the floor of the variance term.
const clockGranularity = time.Millisecond

func newRTOEstimator(initial, lo, hi time.Duration) rtoEstimator {
	return rtoEstimator{rto: min(max(initial, lo), hi), min: lo, max: hi}
}

// sample feeds one round-trip measurement (RFC 6298 §2.2, §2.3). It also
// undoes any backoff, as §5.7 allows once a new sample is taken.
func (e *rtoEstimator) sample(r time.Duration) {
	if r < 0 {
		r = 0
	}
	if !e.sampled {
		e.srtt, e.rttvar, e.sampled = r, r/2, true
	} else {
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	e.rto = min(max(e.srtt+max(clockGranularity, 4*e.rttvar), e.min), e.max)
}

// backoff doubles the RTO after a timeout (RFC 6298 §5.5), up to max.
func (e *rtoEstimator) backoff() { e.rto = min(2*e.rto, e.max) }

// undoBackoff recomputes the RTO from the estimates, once timeouts are
// known not to have been losses.
func (e *rtoEstimator) undoBackoff() {
	if e.sampled {
		e.rto = min(max(e.srtt+max(clockGranularity, 4*e.rttvar), e.min), e.max)
	}
}

// outPacket is a sequenced packet we sent and the peer has not yet
// acknowledged. Its ACK fields are filled in afresh on every transmission.
type outPacket struct {
	seq       uint32
	flags     Flags // FlagSYN and FlagClose: what the packet is
	payload   []byte
	firstSent time.Time
	lastSent  time.Time
	sends     int  // transmissions so far
	nacks     int  // ACKs that NACKed it since it was last sent
	lost      bool // known or presumed lost: retransmit before new data
}

// sender is the sending half of a stream: sequence numbers, the packets in
// flight, the congestion window and the retransmission timer. Windows count
// packets, not bytes (streaming.html §"Windowing"): slow start below
// ssthresh, +1/cwnd per acknowledged packet above it, halving on loss.
// Only the run goroutine uses it.
type sender struct {
	nextSeq uint32
	unacked []*outPacket // ascending seq
	lostN   int          // how many of unacked are marked lost

	cwnd, ssthresh float64
	maxWindow      float64
	maxResends     int
	minGiveUp      time.Duration
	// A loss episode: the window is cut once, then not again until
	// everything sent before the cut is acknowledged.
	recovering   bool
	recoverSeq   uint32
	fastRecovery bool // entered by NACKs: no growth until it ends
	choked       bool // the peer sent DELAY > 60000: one packet in flight

	rto         rtoEstimator
	rtoDeadline time.Time // zero when nothing is in flight
	// timeouts counts retransmission timeouts in a row, reset by an ACK
	// that acknowledges something; not counted while choked.
	timeouts int
}

func newSender(c *Config) sender {
	return sender{
		cwnd:       float64(c.InitialWindow),
		ssthresh:   float64(c.MaxWindow),
		maxWindow:  float64(c.MaxWindow),
		maxResends: c.MaxResends,
		minGiveUp:  c.MinGiveUp,
		rto:        newRTOEstimator(c.InitialRTO, c.MinRTO, c.MaxRTO),
	}
}

// window is how many packets may be in flight now.
func (s *sender) window() int {
	if s.choked {
		return 1
	}
	return max(1, int(s.cwnd))
}

// inflight counts the packets sent and neither acknowledged nor presumed
// lost (RFC 6675's "pipe").
func (s *sender) inflight() int { return len(s.unacked) - s.lostN }

// add assigns the next sequence number to a new packet.
func (s *sender) add(flags Flags, payload []byte) *outPacket {
	op := &outPacket{seq: s.nextSeq, flags: flags, payload: payload}
	s.nextSeq++
	s.unacked = append(s.unacked, op)
	return op
}

// firstLost returns the oldest packet waiting for retransmission.
func (s *sender) firstLost() *outPacket {
	if s.lostN == 0 {
		return nil
	}
	for _, op := range s.unacked {
		if op.lost {
			return op
		}
	}
	return nil
}

// choke runs when the peer starts choking us. Its buffer is full, so we
// were sending faster than its reader: that is treated like a loss, the
// window restarting at one packet below half its size, so that after the
// unchoke it slow-starts instead of flooding a buffer that has just
// drained.
func (s *sender) choke() {
	s.choked = true
	s.ssthresh = max(s.cwnd/2, 2)
	s.cwnd = 1
}

// unchoke runs when the peer stops choking us: the packets we sent while
// it was full were probably dropped, so those not acknowledged within a
// round trip go again now rather than after an RTO that the choke has
// backed off to its maximum.
// The timeouts while choked were the peer's doing, not the network's, so
// their backoff is undone.
func (s *sender) unchoke(now time.Time) {
	s.choked = false
	s.rto.undoBackoff()
	for _, op := range s.unacked {
		if now.Sub(op.lastSent) >= s.rto.srtt {
			s.setLost(op, true)
		}
	}
	if len(s.unacked) > 0 {
		s.rtoDeadline = now.Add(s.rto.rto)
	}
}

// resendSYN marks our SYN for immediate retransmission if it is still
// unacknowledged.
func (s *sender) resendSYN() {
	if len(s.unacked) > 0 && s.unacked[0].flags.Has(FlagSYN) {
		s.setLost(s.unacked[0], true)
	}
}

// onSent records a (re)transmission and arms the timer if it is idle.
func (s *sender) onSent(op *outPacket, now time.Time) {
	if op.sends == 0 {
		op.firstSent = now
	}
	op.sends++
	op.lastSent = now
	op.nacks = 0
	s.setLost(op, false)
	if s.rtoDeadline.IsZero() {
		s.rtoDeadline = now.Add(s.rto.rto)
	}
}

func (s *sender) setLost(op *outPacket, lost bool) {
	if op.lost == lost {
		return
	}
	op.lost = lost
	if lost {
		s.lostN++
	} else {
		s.lostN--
	}
}

// onAck applies an ACK: every packet up to ackThrough that is not NACKed
// has arrived (streaming.rst, ackThrough and NACKs). A packet NACKed by two
// ACKs is retransmitted at once, the spec's "fast retransmit"; i2pd 2.45
// never does that and waits for its timer. It returns how many packets the
// ACK newly acknowledged. An ackThrough beyond what we sent is ignored, as
// i2pd does.
func (s *sender) onAck(now time.Time, ackThrough uint32, nacks []uint32) int {
	if ackThrough >= s.nextSeq || len(s.unacked) == 0 {
		return 0
	}
	if !slices.IsSorted(nacks) {
		nacks = slices.Sorted(slices.Values(nacks))
	}
	nacked := func(seq uint32) bool {
		_, ok := slices.BinarySearch(nacks, seq)
		return ok
	}
	acked := 0
	var newest *outPacket // newest never-retransmitted packet acked, for the RTT sample (Karn)
	loss := false
	kept := s.unacked[:0]
	for _, op := range s.unacked {
		if op.seq <= ackThrough && !nacked(op.seq) {
			acked++
			if op.lost {
				s.lostN--
			}
			if op.sends == 1 {
				newest = op
			}
			continue
		}
		if op.seq < ackThrough && nacked(op.seq) {
			op.nacks++
			// A retransmission can be NACKed by ACKs that left before it
			// arrived; give it a round trip before declaring it lost again.
			if op.nacks >= 2 && !op.lost && (op.sends == 1 || now.Sub(op.lastSent) >= s.rto.srtt) {
				s.setLost(op, true)
				loss = true
			}
		}
		kept = append(kept, op)
	}
	clear(s.unacked[len(kept):])
	s.unacked = kept
	if acked == 0 && !loss {
		return 0
	}
	if newest != nil {
		s.rto.sample(now.Sub(newest.firstSent))
	}
	if s.recovering && (len(s.unacked) == 0 || s.unacked[0].seq > s.recoverSeq) {
		s.recovering, s.fastRecovery = false, false
	}
	if !s.fastRecovery {
		for range acked {
			if s.cwnd < s.ssthresh {
				s.cwnd++
			} else {
				s.cwnd += 1 / s.cwnd
			}
		}
		s.cwnd = min(s.cwnd, s.maxWindow)
	}
	if loss && !s.recovering {
		s.ssthresh = max(s.cwnd/2, 2)
		s.cwnd = s.ssthresh
		s.recovering, s.fastRecovery = true, true
		s.recoverSeq = s.nextSeq - 1
	}
	if acked > 0 {
		s.timeouts = 0
		// RFC 6298 §5.3: restart the timer when new data is acknowledged.
		if len(s.unacked) == 0 {
			s.rtoDeadline = time.Time{}
		} else {
			s.rtoDeadline = now.Add(s.rto.rto)
		}
	}
	return acked
}

// onRTO handles the retransmission timer. Packets not sent for a whole RTO
// are presumed lost, the window collapses to one packet with ssthresh at
// half the flight (RFC 5681 §3.1) and the RTO doubles. It reports false
// when a packet has already been retransmitted MaxResends times and has
// waited MinGiveUp: the peer is gone. While the peer chokes us the lone probe packet is retried
// without limit and without touching the window.
func (s *sender) onRTO(now time.Time) bool {
	if len(s.unacked) == 0 {
		s.rtoDeadline = time.Time{}
		return true
	}
	flight := s.inflight()
	for i, op := range s.unacked {
		if i > 0 && now.Sub(op.lastSent) < s.rto.rto {
			continue
		}
		if !s.choked && op.sends > s.maxResends && now.Sub(op.firstSent) >= s.minGiveUp {
			return false
		}
		s.setLost(op, true)
	}
	if !s.choked {
		// RFC 5681 §3.1: on a timeout of a packet the timer already
		// retransmitted, ssthresh is held; halving the one-packet flight
		// again would leave a stream that found a new path at a window
		// of 2, growing one packet per round trip.
		if s.timeouts == 0 {
			s.ssthresh = max(float64(flight)/2, 2)
		}
		s.cwnd = 1
		s.recovering, s.fastRecovery = true, false
		s.recoverSeq = s.nextSeq - 1
		s.timeouts++
	}
	s.rto.backoff()
	s.rtoDeadline = now.Add(s.rto.rto)
	return true
}

// pathSwitchDue reports whether the timeout just handled should move the
// stream to another path: the 2nd, 4th, 6th… in a row. One timeout is a
// loss; two mean the path may be dead (a tunnel hop gone), and the tunnels
// keep no other way to tell us for a minute or more. i2pd switches lease
// on its 2nd and 4th resend and outbound tunnel on its 3rd.
func (s *sender) pathSwitchDue() bool { return s.timeouts >= 2 && s.timeouts%2 == 0 }

// pathSwitched restarts the timer from the measured RTO: the backoff
// measured the old path, and the first packets on the new one should not
// wait for it.
func (s *sender) pathSwitched(now time.Time) {
	s.rto.undoBackoff()
	if len(s.unacked) > 0 {
		s.rtoDeadline = now.Add(s.rto.rto)
	}
}
