package streaming_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/streaming"
	"i2pbridge/router/streaming/streamingtest"
)

// switchingConn is a sender's PacketConn with two paths: once the first
// dies, everything sent on it is lost until the stream asks for another
// path (a dead tunnel hop, as the destination sees it).
type switchingConn struct {
	*streamingtest.Endpoint
	mu         sync.Mutex
	dead       bool // the current path loses everything
	switches   int
	switchedAt time.Time
	stuck      bool // SwitchPath finds no working path either
}

func (s *switchingConn) SendPacket(ctx context.Context, remote data.Destination, fromPort, toPort uint16, pkt []byte) error {
	s.mu.Lock()
	dead := s.dead
	s.mu.Unlock()
	if dead {
		return nil // lost on the way, as the network would
	}
	return s.Endpoint.SendPacket(ctx, remote, fromPort, toPort, pkt)
}

func (s *switchingConn) SwitchPath(data.Destination) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.switches++
	s.dead = s.stuck
	s.switchedAt = time.Now()
}

// TestStreamSwitchesPathAfterTimeouts: the sender's path dies in the
// middle of a transfer; after the second retransmission timeout in a row
// the stream asks its PacketConn for another path, and the transfer ends
// byte-identical, long before its resends would have run out.
func TestStreamSwitchesPathAfterTimeouts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc, client, server := switchingPair(t, false)
		want := randomBytes(4<<20, 7)
		errs := make(chan error, 1)
		go sendAll(client, want, errs)
		// Kill the path once 1 MiB has arrived.
		got := make([]byte, 0, len(want))
		buf := make([]byte, 32<<10)
		var killed time.Time
		for {
			m, err := server.Read(buf)
			got = append(got, buf[:m]...)
			if killed.IsZero() && len(got) >= 1<<20 {
				sc.mu.Lock()
				sc.dead = true
				sc.mu.Unlock()
				killed = time.Now()
			}
			if err != nil {
				break
			}
		}
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("received %d bytes, want %d identical", len(got), len(want))
		}
		sc.mu.Lock()
		defer sc.mu.Unlock()
		if sc.switches != 1 {
			t.Errorf("%d path switches, want 1", sc.switches)
		}
		// Two timeouts of an RTO near 4 × the 100 ms round trip, the second
		// backed off, then the switch: well under the 9 s initial RTO.
		if d := time.Since(killed); d > 4*time.Second {
			t.Errorf("transfer ended %v after the path died", d)
		}
		t.Logf("transfer ended %v after the path died; switched after %v", time.Since(killed), sc.switchedAt.Sub(killed))
	})
}

// TestAckAllSendsAnAckOnIdleStreams: AckAll makes every open stream send
// one packet even with nothing to send or acknowledge (the destination's
// LeaseSet changed, and the ACK carries it to the peer).
func TestAckAllSendsAnAckOnIdleStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, nil)
		client, server := p.connect(t, 80)
		defer client.Close()
		defer server.Close()
		if _, err := client.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := server.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // every ACK sent, nothing in flight
		synctest.Wait()
		before := p.net.Stats().Sent
		time.Sleep(time.Second)
		synctest.Wait()
		if idle := p.net.Stats().Sent; idle != before {
			t.Fatalf("%d packets sent on idle streams", idle-before)
		}
		p.a.AckAll()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := p.net.Stats().Sent - before; got != 1 {
			t.Fatalf("AckAll on one idle stream sent %d packets, want 1", got)
		}
	})
}

// TestStreamWithNoWorkingPathKeepsBackingOff: when no path works, the
// switches go on but the timer keeps its exponential backoff after the
// first one, and the stream gives the network MinGiveUp (60 s) before
// MaxResends ends it, instead of using them up in seconds.
func TestStreamWithNoWorkingPathKeepsBackingOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc, client, server := switchingPair(t, true)
		defer server.Close()
		if _, err := client.Write([]byte("warm")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(server, buf); err != nil {
			t.Fatal(err)
		}
		sc.mu.Lock()
		sc.dead = true
		sc.mu.Unlock()
		killed := time.Now()
		if _, err := client.Write([]byte("lost")); err != nil {
			t.Fatal(err)
		}
		_, err := client.Read(buf)
		took := time.Since(killed)
		if !errors.Is(err, streaming.ErrTimeout) {
			t.Fatalf("read on a stream with no path: %v, want ErrTimeout", err)
		}
		sc.mu.Lock()
		switches := sc.switches
		sc.mu.Unlock()
		// The RTO here is a few hundred ms: eight resends with backoff
		// take tens of them, less than MinGiveUp, which is what the
		// stream then waits for.
		if took < 60*time.Second || took > 3*time.Minute || switches < 3 {
			t.Errorf("stream gave up %v after its path died, after %d switches", took, switches)
		}
		t.Logf("gave up %v after the path died, %d path switches", took, switches)
	})
}

// switchingPair connects a stream from a manager whose PacketConn is a
// switchingConn (stuck: no second path works either) to a plain one, over
// a network with 50 ms one-way delay. Cleanup closes everything.
func switchingPair(t *testing.T, stuck bool) (*switchingConn, *streaming.Conn, *streaming.Conn) {
	t.Helper()
	n := streamingtest.NewNetwork(streamingtest.Conditions{Delay: 50 * time.Millisecond})
	keys := newKeys(t, 1)
	sc := &switchingConn{Endpoint: n.Endpoint(keys.Destination()), stuck: stuck}
	a, err := streaming.NewManager(streaming.Config{Keys: keys, Conn: sc})
	if err != nil {
		t.Fatal(err)
	}
	sc.Attach(a)
	b := newManager(t, n, 2, nil)
	ln, _ := b.Listen()
	t.Cleanup(func() {
		ln.Close()
		a.Close()
		b.Close()
		n.Close()
	})
	p := &pair{net: n, a: a, b: b, ln: ln}
	client, server := p.connect(t, 80)
	return sc, client, server
}
