package streaming

import (
	"slices"
	"testing"
	"time"
)

func TestRTOEstimatorFollowsRFC6298(t *testing.T) {
	e := newRTOEstimator(9*time.Second, 100*time.Millisecond, 45*time.Second)
	if e.rto != 9*time.Second {
		t.Fatalf("initial RTO %s", e.rto)
	}
	// §2.2: first sample R: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4·RTTVAR.
	e.sample(time.Second)
	if e.srtt != time.Second || e.rttvar != 500*time.Millisecond || e.rto != 3*time.Second {
		t.Fatalf("after 1 s: srtt %s rttvar %s rto %s", e.srtt, e.rttvar, e.rto)
	}
	// §2.3: RTTVAR = 3/4·RTTVAR + 1/4·|SRTT-R'| = 375+250 ms; SRTT = 7/8·1 s + 1/8·2 s.
	e.sample(2 * time.Second)
	if e.rttvar != 625*time.Millisecond || e.srtt != 1125*time.Millisecond || e.rto != 3625*time.Millisecond {
		t.Fatalf("after 2 s: srtt %s rttvar %s rto %s", e.srtt, e.rttvar, e.rto)
	}
	// §5.5 backoff, capped at the maximum; clamped below by the minimum.
	for range 10 {
		e.backoff()
	}
	if e.rto != 45*time.Second {
		t.Fatalf("backed off to %s", e.rto)
	}
	f := newRTOEstimator(9*time.Second, 100*time.Millisecond, 45*time.Second)
	f.sample(time.Millisecond)
	if f.rto != 100*time.Millisecond {
		t.Fatalf("tiny RTT gives RTO %s, want the 100 ms floor", f.rto)
	}
}

func TestReceiverAckFields(t *testing.T) {
	tests := []struct {
		name     string
		next     uint32
		ooo      []uint32
		wantOK   bool
		wantAck  uint32
		wantNACK []uint32
	}{
		{"nothing heard", 0, nil, false, 0, nil},
		{"SYN only", 1, nil, true, 0, nil},
		{"in order", 10, nil, true, 9, nil},
		{"one gap", 5, []uint32{6, 7}, true, 7, []uint32{5}},
		{"holes", 2, []uint32{4, 6, 9}, true, 9, []uint32{2, 3, 5, 7, 8}},
		{"SYN missing", 0, []uint32{3}, true, 3, []uint32{0, 1, 2}},
		// 300 missing before 301: only 255 NACKs fit, so ackThrough stops
		// below the 256th gap (sequence 255).
		{"too many gaps", 0, []uint32{300}, true, 254, seqRange(0, 255)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := receiver{next: tt.next}
			for _, s := range tt.ooo {
				r.store(&Packet{Seq: s})
			}
			at, nacks, ok := r.ackFields()
			if ok != tt.wantOK || at != tt.wantAck || !slices.Equal(nacks, tt.wantNACK) {
				t.Fatalf("got ack %d nacks %v ok %t; want %d %v %t", at, nacks, ok, tt.wantAck, tt.wantNACK, tt.wantOK)
			}
		})
	}
}

func seqRange(from, n uint32) []uint32 {
	var s []uint32
	for i := range n {
		s = append(s, from+i)
	}
	return s
}

func testSender(window int) sender {
	return newSender(&Config{InitialWindow: window, MaxWindow: 64, MaxResends: 3,
		InitialRTO: time.Second, MinRTO: 100 * time.Millisecond, MaxRTO: 10 * time.Second})
}

func sendN(s *sender, n int, now time.Time) {
	for range n {
		s.onSent(s.add(0, []byte{1}), now)
	}
}

func unackedSeqs(s *sender) []uint32 {
	var out []uint32
	for _, op := range s.unacked {
		out = append(out, op.seq)
	}
	return out
}

func TestSenderSelectiveAck(t *testing.T) {
	t0 := time.Unix(0, 0)
	s := testSender(10)
	sendN(&s, 8, t0) // seqs 0..7
	// ACK through 5 with 2 and 4 missing: 0,1,3,5 acknowledged.
	if n := s.onAck(t0.Add(50*time.Millisecond), 5, []uint32{2, 4}); n != 4 {
		t.Fatalf("acked %d, want 4", n)
	}
	if got := unackedSeqs(&s); !slices.Equal(got, []uint32{2, 4, 6, 7}) {
		t.Fatalf("unacked %v", got)
	}
	if s.rto.srtt != 50*time.Millisecond {
		t.Fatalf("RTT sample %s", s.rto.srtt)
	}
	if s.lostN != 0 {
		t.Fatal("one NACK must not trigger a retransmission")
	}
	// A second NACK of 2 and 4: fast retransmit, window halved once (after
	// growing by one for packet 6, which this ACK acknowledges).
	cwnd := s.cwnd + 1
	s.onAck(t0.Add(60*time.Millisecond), 6, []uint32{2, 4})
	if s.lostN != 2 || s.firstLost().seq != 2 {
		t.Fatalf("lost %d, first %v", s.lostN, s.firstLost())
	}
	if s.cwnd != max(cwnd/2, 2) || !s.fastRecovery {
		t.Fatalf("cwnd %.1f (was %.1f), recovery %t", s.cwnd, cwnd, s.fastRecovery)
	}
	if s.inflight() != 1 { // only 7 is still in flight
		t.Fatalf("inflight %d", s.inflight())
	}
	// More NACKs in the same episode do not cut again.
	s.onAck(t0.Add(70*time.Millisecond), 7, []uint32{2, 4})
	if s.cwnd != max(cwnd/2, 2) {
		t.Fatalf("cut twice: cwnd %.1f", s.cwnd)
	}
	// ackThrough beyond what we sent is ignored.
	if n := s.onAck(t0, 100, nil); n != 0 || len(s.unacked) != 2 {
		t.Fatalf("bogus ackThrough acked %d", n)
	}
	// Retransmit and acknowledge everything: recovery ends.
	for op := s.firstLost(); op != nil; op = s.firstLost() {
		s.onSent(op, t0.Add(80*time.Millisecond))
	}
	s.onAck(t0.Add(200*time.Millisecond), 7, nil)
	if len(s.unacked) != 0 || s.recovering || !s.rtoDeadline.IsZero() {
		t.Fatalf("unacked %v recovering %t deadline %v", unackedSeqs(&s), s.recovering, s.rtoDeadline)
	}
}

func TestSenderWindowGrowth(t *testing.T) {
	t0 := time.Unix(0, 0)
	s := testSender(2)
	s.ssthresh = 4
	sendN(&s, 2, t0)
	s.onAck(t0, 1, nil) // slow start: +1 per packet
	if s.cwnd != 4 {
		t.Fatalf("slow start cwnd %.2f, want 4", s.cwnd)
	}
	sendN(&s, 4, t0)
	s.onAck(t0, 5, nil) // congestion avoidance: +1/cwnd per packet
	if s.cwnd < 4.9 || s.cwnd > 5 {
		t.Fatalf("avoidance cwnd %.2f, want about 5", s.cwnd)
	}
	s.cwnd, s.ssthresh = 64, 1000
	sendN(&s, 1, t0)
	s.onAck(t0, 6, nil)
	if s.cwnd != 64 {
		t.Fatalf("cwnd %.1f above MaxWindow", s.cwnd)
	}
}

func TestSenderRTO(t *testing.T) {
	t0 := time.Unix(0, 0)
	s := testSender(8)
	sendN(&s, 4, t0)
	if s.rtoDeadline != t0.Add(time.Second) {
		t.Fatalf("deadline %v", s.rtoDeadline)
	}
	t1 := t0.Add(time.Second)
	if !s.onRTO(t1) {
		t.Fatal("first timeout fails the stream")
	}
	if s.lostN != 4 || s.cwnd != 1 || s.ssthresh != 2 || s.rto.rto != 2*time.Second {
		t.Fatalf("lost %d cwnd %.1f ssthresh %.1f rto %s", s.lostN, s.cwnd, s.ssthresh, s.rto.rto)
	}
	// The stream fails once a packet has been sent 1+MaxResends times.
	now := t1
	for i := 0; ; i++ {
		for op := s.firstLost(); op != nil; op = s.firstLost() {
			s.onSent(op, now)
		}
		now = now.Add(time.Minute)
		if !s.onRTO(now) {
			if sends := s.unacked[0].sends; sends != 1+s.maxResends {
				t.Fatalf("gave up after %d transmissions, want %d", sends, 1+s.maxResends)
			}
			break
		}
		if i > 10 {
			t.Fatal("never gave up")
		}
	}
	// Choked: the probe is retried without limit and the window is kept.
	c := testSender(8)
	c.choked = true
	sendN(&c, 1, t0)
	for i := range 20 {
		c.onSent(c.unacked[0], t0.Add(time.Duration(i)*time.Minute))
		if !c.onRTO(t0.Add(time.Duration(i+1) * time.Minute)) {
			t.Fatal("choked probe gave up")
		}
	}
	if c.cwnd != 8 || c.window() != 1 {
		t.Fatalf("choked: cwnd %.1f window %d", c.cwnd, c.window())
	}
}

func TestSenderChoke(t *testing.T) {
	t0 := time.Unix(0, 0)
	s := testSender(8)
	s.cwnd = 20
	sendN(&s, 3, t0)
	s.choke()
	if s.window() != 1 || s.cwnd != 1 || s.ssthresh != 10 {
		t.Fatalf("choked: window %d cwnd %.1f ssthresh %.1f", s.window(), s.cwnd, s.ssthresh)
	}
	s.rto.sample(time.Second)
	s.onSent(s.add(0, nil), t0.Add(1500*time.Millisecond)) // sent while choked, still in flight
	s.unchoke(t0.Add(2 * time.Second))
	if s.choked || s.lostN != 3 || s.firstLost().seq != 0 || s.unacked[3].lost {
		t.Fatalf("unchoked: choked %t, %d to resend", s.choked, s.lostN)
	}
}
