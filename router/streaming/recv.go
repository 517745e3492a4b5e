package streaming

import "time"

// receiver is the receiving half of a stream: the next sequence number
// expected, packets that arrived early, and when to acknowledge. Only the
// run goroutine uses it.
type receiver struct {
	next     uint32             // next in-order sequence number; the peer's SYN is 0
	ooo      map[uint32]*Packet // arrived ahead of next
	oooBytes int                // payload bytes in ooo
	highest  uint32             // highest sequence in ooo (valid when len(ooo) > 0)

	finished bool   // the peer's CLOSE was delivered in order
	finSeq   uint32 // its sequence number

	pending int       // in-order packets not yet acknowledged
	ackNow  bool      // acknowledge at the next flush
	ackAt   time.Time // delayed ACK deadline; zero when none is due

	nackBuf []uint32
}

// heard reports whether any sequenced packet has been accepted, that is
// whether an ACK would say anything. Until then our packets carry NO_ACK.
func (r *receiver) heard() bool { return r.next > 0 || len(r.ooo) > 0 }

// ackFields returns ackThrough and the NACKs for an outgoing packet. When
// the gaps need more than MaxNACKs entries, ackThrough is lowered to just
// below the first gap that does not fit, so that everything up to it that
// is not NACKed really has arrived (i2pd Stream::SendQuickAck does the
// same). The NACK slice is reused by the next call.
func (r *receiver) ackFields() (ackThrough uint32, nacks []uint32, ok bool) {
	if !r.heard() {
		return 0, nil, false
	}
	if len(r.ooo) == 0 {
		return r.next - 1, nil, true
	}
	nacks = r.nackBuf[:0]
	ackThrough = r.highest
	for s := r.next; s < r.highest; s++ {
		if _, ok := r.ooo[s]; ok {
			continue
		}
		if len(nacks) == MaxNACKs {
			ackThrough = s - 1
			break
		}
		nacks = append(nacks, s)
	}
	r.nackBuf = nacks
	return ackThrough, nacks, true
}

// acked records that an outgoing packet carried the current ACK state.
func (r *receiver) acked() {
	r.pending = 0
	r.ackNow = false
	r.ackAt = time.Time{}
}

// store keeps a packet that arrived ahead of next.
func (r *receiver) store(p *Packet) {
	if r.ooo == nil {
		r.ooo = make(map[uint32]*Packet)
	}
	r.ooo[p.Seq] = p
	r.oooBytes += len(p.Payload)
	if len(r.ooo) == 1 || p.Seq > r.highest {
		r.highest = p.Seq
	}
}

// take removes and returns the stored packet with sequence next, if any.
func (r *receiver) take() *Packet {
	p, ok := r.ooo[r.next]
	if !ok {
		return nil
	}
	delete(r.ooo, r.next)
	r.oooBytes -= len(p.Payload)
	return p
}
