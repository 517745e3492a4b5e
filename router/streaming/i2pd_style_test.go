package streaming_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/streaming"
)

// capture is a PacketConn that hands every packet to the test, which plays
// the peer by hand.
type capture struct{ ch chan sent }

type sent struct {
	to       data.Destination
	from, pt uint16
	p        streaming.Packet
}

func (c *capture) SendPacket(ctx context.Context, to data.Destination, fromPort, toPort uint16, pkt []byte) error {
	p, _, err := streaming.Parse(append([]byte(nil), pkt...))
	if err != nil {
		panic(err)
	}
	c.ch <- sent{to, fromPort, toPort, p}
	return nil
}

func (c *capture) next(t *testing.T) sent {
	t.Helper()
	select {
	case s := <-c.ch:
		return s
	case <-time.After(time.Minute):
		t.Fatal("no packet sent")
		return sent{}
	}
}

func (c *capture) none(t *testing.T) {
	t.Helper()
	time.Sleep(time.Millisecond)
	select {
	case s := <-c.ch:
		t.Fatalf("unexpected packet %v", &s.p)
	default:
	}
}

// scripted is our Manager and a hand-played peer with its own keys.
type scripted struct {
	m    *streaming.Manager
	cap  *capture
	peer data.PrivateKeys
}

func newScripted(t *testing.T) *scripted {
	cp := &capture{ch: make(chan sent, 1024)}
	m, err := streaming.NewManager(streaming.Config{Keys: newKeys(t, 1), Conn: cp, InactivityTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &scripted{m: m, cap: cp, peer: newKeys(t, 3)}
}

// deliver sends the peer's packet to our Manager, signed if asked.
func (s *scripted) deliver(t *testing.T, p streaming.Packet, signed bool, fromPort, toPort uint16) {
	t.Helper()
	var b []byte
	var err error
	if signed {
		b, err = p.AppendSigned(nil, s.peer)
	} else {
		b, err = p.Append(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.m.Deliver(context.Background(), b, fromPort, toPort)
}

// TestI2pdStyleExchange plays i2pd 2.45's side of a whole stream, packet
// by packet as Streaming.cpp builds them, and checks each of ours.
func TestI2pdStyleExchange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScripted(t)
		local := s.m.Addr().Dest
		dialed := make(chan *streaming.Conn)
		go func() {
			c, err := s.m.Dial(context.Background(), s.peer.Destination(), 80)
			if err != nil {
				t.Error(err)
			}
			dialed <- c
		}()

		// Our SYN: as i2pd's (Stream::SendBuffer, initial packet).
		syn := s.cap.next(t)
		p := syn.p
		if syn.to != s.peer.Destination() || syn.pt != 80 || syn.from != 0 {
			t.Fatalf("SYN addressed to %s:%d from port %d", syn.to, syn.pt, syn.from)
		}
		want := streaming.FlagSYN | streaming.FlagFrom | streaming.FlagSignature | streaming.FlagMaxSize | streaming.FlagNoAck
		if p.Flags != want || p.SendStreamID != 0 || p.ReceiveStreamID == 0 || p.Seq != 0 || p.From != local || p.MaxSize != streaming.RatchetMTU || p.ResendDelay != 9 {
			t.Fatalf("SYN %v from %s maxsize %d", &p, p.From, p.MaxSize)
		}
		if err := p.Verify(local, time.Now()); err != nil {
			t.Fatalf("our SYN does not verify: %v", err)
		}
		ours, theirs := p.ReceiveStreamID, uint32(0x5eed)

		// i2pd's reply: SYN|FROM|SIG|MAXSIZE, seq 0, ackThrough 0, no NO_ACK.
		s.deliver(t, streaming.Packet{SendStreamID: ours, ReceiveStreamID: theirs, ResendDelay: 9,
			Flags: streaming.FlagSYN | streaming.FlagFrom | streaming.FlagMaxSize, From: s.peer.Destination(), MaxSize: 1812}, true, 80, 0)
		c := <-dialed
		if c == nil {
			t.FailNow()
		}

		// 4000 bytes go out as 1812+1812+376 with our IDs, in order.
		msg := bytes.Repeat([]byte("0123456789"), 400)
		c.Write(msg)
		var got []byte
		for i := uint32(1); i <= 3; i++ {
			d := s.cap.next(t).p
			if d.Seq != i || d.SendStreamID != theirs || d.ReceiveStreamID != ours || d.Flags != 0 || d.AckThrough != 0 {
				t.Fatalf("data packet %d: %v", i, &d)
			}
			got = append(got, d.Payload...)
		}
		if !bytes.Equal(got, msg) {
			t.Fatal("payload differs")
		}

		// i2pd's quick ACK: plain, seq 0, flags 0.
		s.deliver(t, streaming.Packet{SendStreamID: ours, ReceiveStreamID: theirs, AckThrough: 3}, false, 80, 0)
		s.cap.none(t)

		// i2pd sends data, then its CLOSE (Stream::SendClose: CLOSE|SIG,
		// only the signature as options) in a separate packet.
		s.deliver(t, streaming.Packet{SendStreamID: ours, ReceiveStreamID: theirs, Seq: 1, AckThrough: 3, Payload: []byte("HTTP/1.1 200 OK")}, false, 80, 0)
		s.deliver(t, streaming.Packet{SendStreamID: ours, ReceiveStreamID: theirs, Seq: 2, AckThrough: 3, Flags: streaming.FlagClose}, true, 80, 0)
		resp, err := io.ReadAll(c)
		if err != nil || string(resp) != "HTTP/1.1 200 OK" {
			t.Fatalf("read %q, %v", resp, err)
		}
		ack := s.cap.next(t).p
		if !ack.IsPlainAck() || ack.AckThrough != 2 || len(ack.NACKs) != 0 {
			t.Fatalf("ACK of the CLOSE: %v", &ack)
		}

		// Our CLOSE, signed; i2pd would have answered with its own CLOSE
		// already, here it acknowledges ours and the stream is done.
		c.Close()
		cl := s.cap.next(t).p
		if cl.Flags != streaming.FlagClose|streaming.FlagSignature || cl.Seq != 4 || cl.AckThrough != 2 {
			t.Fatalf("our CLOSE: %v", &cl)
		}
		if err := cl.Verify(local, time.Now()); err != nil {
			t.Fatal(err)
		}
		s.deliver(t, streaming.Packet{SendStreamID: ours, ReceiveStreamID: theirs, AckThrough: 4}, false, 80, 0)
		<-c.Done()
		if c.Err() != nil {
			t.Fatalf("ended with %v", c.Err())
		}
	})
}

// TestI2pdAnswerToSynClose: i2pd answers a SYN that carries CLOSE with a
// CLOSE at sequence 0 and no SYN (it calls SendClose before it has sent
// anything). That is the peer's whole side of the stream, not a plain ACK.
func TestI2pdAnswerToSynClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScripted(t)
		c, err := s.m.DialEarly(s.peer.Destination(), 80)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("ping"))
		c.CloseWrite()
		syn := s.cap.next(t).p
		if !syn.Flags.Has(streaming.FlagSYN|streaming.FlagClose) || string(syn.Payload) != "ping" {
			t.Fatalf("first packet %v", &syn)
		}
		s.deliver(t, streaming.Packet{SendStreamID: syn.ReceiveStreamID, ReceiveStreamID: 77, Flags: streaming.FlagClose}, true, 80, 0)
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Fatalf("read %q, %v", b, err)
		}
		<-c.Done()
		if c.Err() != nil {
			t.Fatalf("ended with %v", c.Err())
		}
		ack := s.cap.next(t).p
		if !ack.IsPlainAck() || ack.SendStreamID != 77 || ack.AckThrough != 0 {
			t.Fatalf("ACK %v", &ack)
		}
	})
}

// TestIncomingSYNFromI2pd: a SYN as i2pd sends it opens a stream; the
// reply is our SYN with ackThrough 0 and FROM/MAXSIZE/SIG; a ping is
// answered with i2pd's pong layout.
func TestIncomingSYNFromI2pd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScripted(t)
		ln, err := s.m.Listen()
		if err != nil {
			t.Fatal(err)
		}
		syn := streaming.Packet{ReceiveStreamID: 1234, ResendDelay: 9,
			Flags: streaming.FlagSYN | streaming.FlagFrom | streaming.FlagMaxSize | streaming.FlagNoAck,
			From:  s.peer.Destination(), MaxSize: 1812, Payload: []byte("hello")}
		s.deliver(t, syn, true, 5555, 22)
		c, err := ln.AcceptStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ra := c.RemoteAddr().(streaming.Addr); ra.Dest != s.peer.Destination() || ra.Port != 5555 || c.LocalAddr().(streaming.Addr).Port != 22 {
			t.Fatalf("addrs %v %v", c.LocalAddr(), c.RemoteAddr())
		}
		reply := s.cap.next(t)
		p := reply.p
		want := streaming.FlagSYN | streaming.FlagFrom | streaming.FlagSignature | streaming.FlagMaxSize
		if p.Flags != want || p.SendStreamID != 1234 || p.Seq != 0 || p.AckThrough != 0 || reply.from != 22 || reply.pt != 5555 {
			t.Fatalf("SYN reply %v ports %d->%d", &p, reply.from, reply.pt)
		}
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
			t.Fatalf("read %q %v", buf, err)
		}
		// A ping (Stream::SendPing: sendStreamId = its ID, ECHO|SIG|FROM).
		s.deliver(t, streaming.Packet{SendStreamID: 999, Flags: streaming.FlagEcho | streaming.FlagFrom, From: s.peer.Destination(), Payload: bytes.Repeat([]byte{7}, 40)}, true, 0, 0)
		pong := s.cap.next(t).p
		if pong.Flags != streaming.FlagEcho || pong.SendStreamID != 0 || pong.ReceiveStreamID != 999 || len(pong.Payload) != streaming.MaxPingPayload {
			t.Fatalf("pong %v", &pong)
		}
		// An unsigned ping is not answered.
		s.deliver(t, streaming.Packet{SendStreamID: 998, Flags: streaming.FlagEcho}, false, 0, 0)
		s.cap.none(t)
		// A RESET from the peer ends the stream.
		s.deliver(t, streaming.Packet{SendStreamID: p.ReceiveStreamID, ReceiveStreamID: 1234, Seq: 1, Flags: streaming.FlagReset}, true, 5555, 22)
		<-c.Done()
		if !errors.Is(c.Err(), streaming.ErrReset) {
			t.Fatalf("after RESET: %v", c.Err())
		}
		// A late duplicate of the SYN does not open a ghost stream.
		time.Sleep(time.Minute)
		s.deliver(t, syn, true, 5555, 22)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if c, err := ln.AcceptStream(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("late duplicate SYN accepted: %v %v", c, err)
		}
		s.cap.none(t)
	})
}

// TestPacketsBeforeSYNExpire: a packet that arrives before its SYN is kept
// for PendingTimeout (10 s, as i2pd) and then forgotten.
func TestPacketsBeforeSYNExpire(t *testing.T) {
	tests := []struct {
		wait    time.Duration
		wantAck uint32 // the SYN reply acknowledges the early packet only if it was kept
	}{
		{5 * time.Second, 1},
		{11 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.wait.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newScripted(t)
				ln, err := s.m.Listen()
				if err != nil {
					t.Fatal(err)
				}
				s.deliver(t, streaming.Packet{ReceiveStreamID: 55, Seq: 1, Flags: streaming.FlagNoAck, Payload: []byte("early")}, false, 0, 0)
				time.Sleep(tt.wait)
				s.deliver(t, streaming.Packet{ReceiveStreamID: 55, Flags: streaming.FlagSYN | streaming.FlagFrom | streaming.FlagNoAck,
					From: s.peer.Destination()}, true, 0, 0)
				c, err := ln.AcceptStream(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				reply := s.cap.next(t).p
				if !reply.Flags.Has(streaming.FlagSYN) || reply.AckThrough != tt.wantAck {
					t.Fatalf("SYN reply %v", &reply)
				}
				if tt.wantAck == 1 {
					buf := make([]byte, 5)
					if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "early" {
						t.Fatalf("read %q %v", buf, err)
					}
				}
				c.Close()
			})
		})
	}
}
