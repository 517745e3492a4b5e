package streaming_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/streaming"
	"i2pbridge/router/streaming/streamingtest"
)

func newKeys(t testing.TB, seed byte) data.PrivateKeys {
	t.Helper()
	k, err := data.GeneratePrivateKeys(rand.NewChaCha8([32]byte{seed}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pair is two Managers, a (the dialer) and b (listening), on one network.
type pair struct {
	net  *streamingtest.Network
	a, b *streaming.Manager
	ln   *streaming.Listener
}

func newManager(t testing.TB, n *streamingtest.Network, seed byte, mod func(*streaming.Config)) *streaming.Manager {
	t.Helper()
	keys := newKeys(t, seed)
	ep := n.Endpoint(keys.Destination())
	cfg := streaming.Config{Keys: keys, Conn: ep}
	if mod != nil {
		mod(&cfg)
	}
	m, err := streaming.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ep.Attach(m)
	return m
}

// newPair builds the pair; cleanup closes everything, so inside a synctest
// bubble any goroutine left behind fails the test.
func newPair(t testing.TB, cond streamingtest.Conditions, mod func(*streaming.Config)) *pair {
	t.Helper()
	n := streamingtest.NewNetwork(cond)
	p := &pair{net: n, a: newManager(t, n, 1, mod), b: newManager(t, n, 2, mod)}
	ln, err := p.b.Listen()
	if err != nil {
		t.Fatal(err)
	}
	p.ln = ln
	t.Cleanup(func() {
		p.a.Close()
		p.b.Close()
		n.Close()
	})
	return p
}

// connect dials b from a and accepts it.
func (p *pair) connect(t testing.TB, port uint16) (client, server *streaming.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	type res struct {
		c   *streaming.Conn
		err error
	}
	acc := make(chan res, 1)
	go func() {
		c, err := p.ln.AcceptStream(ctx)
		acc <- res{c, err}
	}()
	client, err := p.a.Dial(ctx, p.b.Addr().Dest, port)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	r := <-acc
	if r.err != nil {
		t.Fatalf("accept: %v", r.err)
	}
	return client, r.c
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// sendAll writes data and half-closes; recvAll reads to EOF. Both report
// into errs.
func sendAll(c *streaming.Conn, data []byte, errs chan<- error) {
	if _, err := c.Write(data); err != nil {
		errs <- fmt.Errorf("write: %w", err)
		return
	}
	if err := c.CloseWrite(); err != nil {
		errs <- fmt.Errorf("close write: %w", err)
		return
	}
	errs <- nil
}

func recvAll(c *streaming.Conn, want []byte, errs chan<- error) {
	got, err := io.ReadAll(c)
	if err != nil {
		errs <- fmt.Errorf("read after %d bytes: %w", len(got), err)
		return
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		errs <- fmt.Errorf("received %d bytes, want %d, contents differ", len(got), len(want))
		return
	}
	errs <- nil
}

func waitDone(t testing.TB, c *streaming.Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Minute):
		t.Fatal("stream did not finish")
	}
}

var lossy = streamingtest.Conditions{
	Loss:      0.05,
	Reorder:   0.05,
	Duplicate: 0.02,
	Delay:     20 * time.Millisecond,
	Jitter:    5 * time.Millisecond,
	Seed:      7,
}

// TestTransferUnderLossReorderingDuplication moves 1 MiB each way at once,
// and 20 MiB one way, over a link that loses 5%, reorders 5% and
// duplicates 2% of packets; every byte must arrive intact and both streams
// must close cleanly.
func TestTransferUnderLossReorderingDuplication(t *testing.T) {
	tests := []struct {
		name      string
		up, down  int
		skipShort bool
	}{
		{"1MiB both ways", 1 << 20, 1 << 20, false},
		{"20MiB", 20 << 20, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skipShort && testing.Short() {
				t.Skip("long transfer; -short only, never in CI (make test does not pass -short)")
			}
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, lossy, nil)
				client, server := p.connect(t, 80)
				up, down := randomBytes(tt.up, 1), randomBytes(tt.down, 2)
				start := time.Now()
				errs := make(chan error, 4)
				go sendAll(client, up, errs)
				go recvAll(server, up, errs)
				go sendAll(server, down, errs)
				go recvAll(client, down, errs)
				for range 4 {
					if err := <-errs; err != nil {
						t.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				waitDone(t, client)
				waitDone(t, server)
				if client.Err() != nil || server.Err() != nil {
					t.Fatalf("streams ended with %v / %v", client.Err(), server.Err())
				}
				cs, ns := client.Stats(), p.net.Stats()
				if ns.Lost == 0 || ns.Reordered == 0 || ns.Duplicated == 0 || cs.Retransmissions == 0 {
					t.Fatalf("link did not impair: %+v, client %+v", ns, cs)
				}
				t.Logf("%s in %s simulated (%.0f KiB/s); link %+v; client %+v; server %+v",
					tt.name, elapsed, float64(tt.up+tt.down)/1024/elapsed.Seconds(), ns, cs, server.Stats())
			})
		})
	}
}

// TestHundredParallelStreams runs 100 streams at once between two
// Managers, each echoing 64 KiB through a lossy link.
func TestHundredParallelStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cond := lossy
		cond.Loss = 0.01
		p := newPair(t, cond, nil)
		const streams, size = 100, 64 << 10
		go func() { // echo server
			for {
				c, err := p.ln.AcceptStream(context.Background())
				if err != nil {
					return
				}
				go func() {
					io.Copy(c, c)
					c.CloseWrite()
				}()
			}
		}()
		var wg sync.WaitGroup
		errs := make(chan error, streams)
		for i := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := p.a.Dial(context.Background(), p.b.Addr().Dest, uint16(i))
				if err != nil {
					errs <- fmt.Errorf("stream %d: dial: %w", i, err)
					return
				}
				msg := randomBytes(size, uint64(i))
				w := make(chan error, 1)
				go sendAll(c, msg, w)
				got, err := io.ReadAll(c)
				if werr := <-w; werr != nil {
					errs <- fmt.Errorf("stream %d: %w", i, werr)
					return
				}
				if err != nil || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("stream %d: %d bytes back, err %v", i, len(got), err)
					return
				}
				c.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for p.a.NumStreams()+p.b.NumStreams() > 0 {
			time.Sleep(time.Second)
		}
	})
}

// TestHalfClose checks both directions: the side that shuts its writing
// first still reads everything the other sends afterwards.
func TestHalfClose(t *testing.T) {
	for _, dialerFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("dialer first %t", dialerFirst), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, nil)
				client, server := p.connect(t, 0)
				first, second := client, server
				if !dialerFirst {
					first, second = server, client
				}
				if _, err := first.Write([]byte("request")); err != nil {
					t.Fatal(err)
				}
				first.CloseWrite()
				if _, err := first.Write([]byte("more")); !errors.Is(err, streaming.ErrWriteClosed) {
					t.Fatalf("write after CloseWrite: %v", err)
				}
				got, err := io.ReadAll(second)
				if err != nil || string(got) != "request" {
					t.Fatalf("second read %q, %v", got, err)
				}
				// The first side's CLOSE is through, yet it still receives.
				time.Sleep(5 * time.Second)
				reply := randomBytes(100_000, 3)
				if _, err := second.Write(reply); err != nil {
					t.Fatal(err)
				}
				second.CloseWrite()
				got, err = io.ReadAll(first)
				if err != nil || !bytes.Equal(got, reply) {
					t.Fatalf("first read %d bytes, %v", len(got), err)
				}
				waitDone(t, client)
				waitDone(t, server)
				if client.Err() != nil || server.Err() != nil {
					t.Fatalf("ended with %v / %v", client.Err(), server.Err())
				}
			})
		})
	}
}

// TestResetByPeer: the peer's Manager closing resets its streams; the
// other side's Read and Write fail with ErrReset after the buffered data.
func TestResetByPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, nil)
		client, server := p.connect(t, 0)
		server.Write([]byte("last words"))
		time.Sleep(time.Second)
		p.b.Close()
		waitDone(t, client)
		buf := make([]byte, 64)
		n, err := client.Read(buf)
		if string(buf[:n]) != "last words" || err != nil {
			t.Fatalf("buffered data: %q, %v", buf[:n], err)
		}
		if _, err := client.Read(buf); !errors.Is(err, streaming.ErrReset) {
			t.Fatalf("read after reset: %v", err)
		}
		if _, err := client.Write([]byte("x")); !errors.Is(err, streaming.ErrReset) {
			t.Fatalf("write after reset: %v", err)
		}
		if _, err := server.Read(buf); !errors.Is(err, streaming.ErrClosed) {
			t.Fatalf("server read after Manager.Close: %v", err)
		}
	})
}

func TestDialRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, nil)
		p.ln.Close()
		_, err := p.a.Dial(context.Background(), p.b.Addr().Dest, 0)
		if !errors.Is(err, streaming.ErrRefused) {
			t.Fatalf("dial without listener: %v", err)
		}
		// Listening again works.
		ln, err := p.b.Listen()
		if err != nil {
			t.Fatal(err)
		}
		p.ln = ln
		c, s := p.connect(t, 0)
		c.Close()
		s.Close()
	})
}

func TestDialContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Loss: 1}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := p.a.Dial(ctx, p.b.Addr().Dest, 0)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("dial into the void: %v", err)
		}
		for p.a.NumStreams() > 0 {
			time.Sleep(time.Second)
		}
	})
}

// TestRetransmissionsExhausted: when the peer vanishes mid-stream the
// sender gives up after MaxResends and reports ErrTimeout.
func TestRetransmissionsExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, func(c *streaming.Config) { c.MaxResends = 4 })
		client, _ := p.connect(t, 0)
		p.net.SetConditions(streamingtest.Conditions{Loss: 1})
		start := time.Now()
		client.Write([]byte("into the void"))
		waitDone(t, client)
		if !errors.Is(client.Err(), streaming.ErrTimeout) {
			t.Fatalf("err %v", client.Err())
		}
		if _, err := client.Read(make([]byte, 1)); !errors.Is(err, streaming.ErrTimeout) {
			t.Fatalf("read: %v", err)
		}
		t.Logf("gave up after %s", time.Since(start))
	})
}

// TestKeepalive: an idle stream survives many inactivity periods while
// the peer answers probes, and fails once the peer is gone.
func TestKeepalive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, func(c *streaming.Config) {
			c.InactivityTimeout = 10 * time.Second
			c.MaxResends = 3
		})
		client, server := p.connect(t, 0)
		time.Sleep(5 * time.Minute)
		select {
		case <-client.Done():
			t.Fatalf("idle stream died: %v", client.Err())
		default:
		}
		if client.Stats().PacketsSent < 10 {
			t.Fatalf("no keepalives: %+v", client.Stats())
		}
		// A half-closed side still probes (with a duplicate packet).
		server.CloseWrite()
		client.CloseWrite()
		p.net.SetConditions(streamingtest.Conditions{Loss: 1})
		waitDone(t, client)
		if !errors.Is(client.Err(), streaming.ErrTimeout) {
			t.Fatalf("err %v", client.Err())
		}
	})
}

// TestSynDataClose: DialEarly lets one packet carry SYN, data and CLOSE;
// the answer comes back and both sides close cleanly.
func TestSynDataClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var first *streaming.Packet
		cond := streamingtest.Conditions{Delay: 50 * time.Millisecond, Filter: func(from, to data.Destination, pkt []byte) bool {
			mu.Lock()
			defer mu.Unlock()
			if first == nil {
				p, _, err := streaming.Parse(pkt)
				if err == nil {
					first = &p
				}
			}
			return true
		}}
		p := newPair(t, cond, nil)
		c, err := p.a.DialEarly(p.b.Addr().Dest, 80)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		c.CloseWrite()
		start := time.Now()
		s, err := p.ln.AcceptStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		req, err := io.ReadAll(s)
		if err != nil || string(req) != "GET / HTTP/1.0\r\n\r\n" {
			t.Fatalf("request %q, %v", req, err)
		}
		mu.Lock()
		got := first
		mu.Unlock() // before any Fatal: the cleanup's Close waits for senders blocked in the Filter
		// The SYN leaves once data is queued; whether CloseWrite came
		// before the run loop sent it is up to the scheduler, so CLOSE may
		// ride the first packet or the next.
		want := streaming.FlagSYN | streaming.FlagSignature | streaming.FlagFrom | streaming.FlagMaxSize | streaming.FlagNoAck
		if got == nil || got.Flags&^streaming.FlagClose != want || string(got.Payload) != string(req) {
			t.Fatalf("first packet %v", got)
		}
		s.Write([]byte("HTTP/1.0 200 OK\r\n\r\nhi"))
		s.Close()
		resp, err := io.ReadAll(c)
		if err != nil || string(resp) != "HTTP/1.0 200 OK\r\n\r\nhi" {
			t.Fatalf("response %q, %v", resp, err)
		}
		if rtt := time.Since(start); rtt > 150*time.Millisecond {
			t.Fatalf("request and response took %s, more than one round trip", rtt)
		}
		waitDone(t, c)
		if c.Err() != nil {
			t.Fatalf("client ended with %v", c.Err())
		}
		if c.LocalAddr().(streaming.Addr).Dest != p.a.Addr().Dest || c.RemoteAddr().String() != p.b.Addr().Dest.B32()+":80" {
			t.Fatalf("client addrs %v %v", c.LocalAddr(), c.RemoteAddr())
		}
		if s.RemoteAddr().(streaming.Addr).Dest != p.a.Addr().Dest || s.LocalAddr().(streaming.Addr).Port != 80 {
			t.Fatalf("server addrs %v %v", s.LocalAddr(), s.RemoteAddr())
		}
	})
}

// TestPacketsBeforeSYN holds the SYN back so the data packets sent with it
// arrive first; they wait for the SYN and nothing is retransmitted.
func TestPacketsBeforeSYN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cond := streamingtest.Conditions{Delay: 10 * time.Millisecond, Hold: func(from, to data.Destination, pkt []byte) time.Duration {
			if p, _, err := streaming.Parse(pkt); err == nil && p.Flags.Has(streaming.FlagSYN) && p.SendStreamID == 0 {
				return 2 * time.Second
			}
			return 0
		}}
		p := newPair(t, cond, nil)
		c, err := p.a.DialEarly(p.b.Addr().Dest, 0)
		if err != nil {
			t.Fatal(err)
		}
		msg := randomBytes(4*streaming.DefaultMTU, 4) // SYN + 3 more packets
		c.Write(msg)
		c.CloseWrite()
		s, err := p.ln.AcceptStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(s)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
		s.Close()
		waitDone(t, c)
		if st := c.Stats(); st.Retransmissions != 0 {
			t.Fatalf("retransmitted: %+v", st)
		}
	})
}

// TestPing: ECHO is answered unless RefusePings is set.
func TestPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 30 * time.Millisecond}, nil)
		rtt, err := p.a.Ping(context.Background(), p.b.Addr().Dest)
		if err != nil || rtt != 60*time.Millisecond {
			t.Fatalf("ping: %s, %v", rtt, err)
		}
		q := newManager(t, p.net, 3, func(c *streaming.Config) { c.RefusePings = true })
		defer q.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := p.a.Ping(ctx, q.Addr().Dest); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("ping to a refuser: %v", err)
		}
	})
}

// TestChokeStallsSender: a reader that stops makes the receiver choke the
// sender, which then waits (without failing) for as long as it takes.
func TestChokeStallsSender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, func(c *streaming.Config) {
			c.MaxReceiveBuffer = 64 << 10
			c.MaxResends = 3
		})
		client, server := p.connect(t, 0)
		msg := randomBytes(1<<20, 5)
		errs := make(chan error, 2)
		go sendAll(client, msg, errs)
		time.Sleep(10 * time.Minute) // nobody reads
		select {
		case <-client.Done():
			t.Fatalf("sender gave up while choked: %v", client.Err())
		default:
		}
		if st := client.Stats(); st.Window != 1 {
			t.Fatalf("sender not choked: %+v", st)
		}
		recvAll(server, msg, errs)
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		// After the reader wakes up the sender slow-starts again instead
		// of flooding the drained buffer.
		if d := server.Stats().Dropped; d > 64 {
			t.Fatalf("%d packets dropped for lack of buffer", d)
		}
		t.Logf("client %+v server %+v", client.Stats(), server.Stats())
	})
}

// TestCloseTimeoutResets: after Close the stream gets CloseTimeout to
// finish; a silent peer makes it end with ErrTimeout.
func TestCloseTimeoutResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, func(c *streaming.Config) {
			c.CloseTimeout = 20 * time.Second
			c.MaxResends = 100
			c.InactivityTimeout = -1
		})
		client, _ := p.connect(t, 0)
		p.net.SetConditions(streamingtest.Conditions{Loss: 1})
		client.Write([]byte("data"))
		start := time.Now()
		client.Close()
		waitDone(t, client)
		if d := time.Since(start); !errors.Is(client.Err(), streaming.ErrTimeout) || d != 20*time.Second {
			t.Fatalf("err %v after %s", client.Err(), d)
		}
		if _, err := client.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
	})
}

func TestDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, func(c *streaming.Config) {
			c.MaxSendBuffer = 1000
			c.MaxReceiveBuffer = 8 << 10
		})
		client, server := p.connect(t, 0)
		start := time.Now()
		client.SetReadDeadline(start.Add(3 * time.Second))
		_, err := client.Read(make([]byte, 10))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Fatalf("read deadline: %v after %s", err, time.Since(start))
		}
		// Moving the deadline away makes Read usable again.
		client.SetReadDeadline(time.Time{})
		server.Write([]byte("ok"))
		buf := make([]byte, 10)
		if n, err := client.Read(buf); err != nil || string(buf[:n]) != "ok" {
			t.Fatalf("read after clearing: %q %v", buf[:n], err)
		}
		// Nobody reads the server side: the writer fills the buffers and
		// then times out, reporting how much it queued.
		client.SetWriteDeadline(time.Now().Add(time.Minute))
		n, err := client.Write(make([]byte, 1<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n == 1<<20 {
			t.Fatalf("write deadline: %d, %v", n, err)
		}
		// A deadline set while blocked wakes the blocked call.
		go func() {
			time.Sleep(time.Second)
			server.SetReadDeadline(time.Now())
		}()
		server.SetReadDeadline(time.Time{})
		for {
			if _, err := server.Read(buf); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("server read: %v", err)
				}
				break
			}
		}
	})
}

func TestListenerCloseAndLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, func(c *streaming.Config) {
			c.Backlog = 2
			c.MaxStreams = 3
		})
		ctx := context.Background()
		var conns []*streaming.Conn
		for range 2 {
			c, err := p.a.Dial(ctx, p.b.Addr().Dest, 0)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		if _, err := p.a.Dial(ctx, p.b.Addr().Dest, 0); !errors.Is(err, streaming.ErrRefused) {
			t.Fatalf("dial beyond the backlog: %v", err)
		}
		// Closing the listener resets the two queued streams.
		p.ln.Close()
		for _, c := range conns[:2] {
			waitDone(t, c)
			if !errors.Is(c.Err(), streaming.ErrReset) {
				t.Fatalf("queued stream ended with %v", c.Err())
			}
		}
		if _, err := p.ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("accept after close: %v", err)
		}
		// The dialer's own limit.
		var open []*streaming.Conn
		for range 3 {
			c, err := p.a.DialEarly(p.b.Addr().Dest, 0)
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, c)
		}
		if _, err := p.a.DialEarly(p.b.Addr().Dest, 0); !errors.Is(err, streaming.ErrTooManyStreams) {
			t.Fatalf("fourth stream: %v", err)
		}
		for _, c := range open {
			c.Close()
		}
	})
}

// TestForgedPacketsIgnored: a CLOSE or RESET not signed by the peer, or a
// packet naming another stream, changes nothing.
func TestForgedPacketsIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t, streamingtest.Conditions{Delay: 10 * time.Millisecond}, nil)
		client, server := p.connect(t, 0)
		server.Write([]byte("hello"))
		buf := make([]byte, 5)
		io.ReadFull(client, buf)
		mallory := newKeys(t, 99)
		ctx := context.Background()
		// We need the stream IDs: learn them from a packet on the wire.
		var ids [2]uint32
		var mu sync.Mutex
		p.net.SetConditions(streamingtest.Conditions{Delay: 10 * time.Millisecond, Filter: func(from, to data.Destination, pkt []byte) bool {
			if q, _, err := streaming.Parse(pkt); err == nil && from == p.b.Addr().Dest {
				mu.Lock()
				ids = [2]uint32{q.SendStreamID, q.ReceiveStreamID}
				mu.Unlock()
			}
			return true
		}})
		server.Write([]byte("x"))
		io.ReadFull(client, buf[:1])
		time.Sleep(time.Second)
		mu.Lock()
		forged := []streaming.Packet{
			{SendStreamID: ids[0], ReceiveStreamID: ids[1], Seq: 1000, Flags: streaming.FlagReset},
			{SendStreamID: ids[0], ReceiveStreamID: ids[1], Seq: 2, Flags: streaming.FlagClose},
			{SendStreamID: ids[0], ReceiveStreamID: ids[1] + 1, Seq: 2, Flags: streaming.FlagReset},
		}
		mu.Unlock()
		for i, f := range forged {
			keys := mallory
			if i == 2 {
				keys = newKeys(t, 2) // b's own keys, but the wrong stream
			}
			b, err := f.AppendSigned(nil, keys)
			if err != nil {
				t.Fatal(err)
			}
			p.a.Deliver(ctx, b, 0, 0)
		}
		time.Sleep(time.Second)
		server.Write([]byte("still here"))
		buf = make([]byte, 10)
		if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "still here" {
			t.Fatalf("after forgeries: %q, %v", buf, err)
		}
		if client.Err() != nil {
			t.Fatal(client.Err())
		}
	})
}

// TestLostSynReplyResentOnDuplicateSYN: when the peer's SYN arrives again,
// our SYN reply was lost, and it is resent at once instead of after our own
// (here 9 s) retransmission timeout.
func TestLostSynReplyResentOnDuplicateSYN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dropped := false
		var mu sync.Mutex
		n := streamingtest.NewNetwork(streamingtest.Conditions{Delay: 10 * time.Millisecond, Filter: func(from, to data.Destination, pkt []byte) bool {
			mu.Lock()
			defer mu.Unlock()
			if p, _, err := streaming.Parse(pkt); err == nil && p.Flags.Has(streaming.FlagSYN) && p.SendStreamID != 0 && !dropped {
				dropped = true
				return false
			}
			return true
		}})
		defer n.Close()
		a := newManager(t, n, 1, func(c *streaming.Config) { c.InitialRTO = 2 * time.Second })
		b := newManager(t, n, 2, nil)
		defer a.Close()
		defer b.Close()
		ln, _ := b.Listen()
		defer ln.Close()
		start := time.Now()
		c, err := a.Dial(context.Background(), b.Addr().Dest, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 2*time.Second+20*time.Millisecond {
			t.Fatalf("dial took %s, want the dialer's 2 s RTO plus one round trip", d)
		}
		c.Close()
	})
}
