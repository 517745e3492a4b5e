package relay

import (
	"bytes"
	"context"
	"errors"
	"i2pbridge/bridge/leaktest"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { c.Close(); r.c.Close() })
	return c.(*net.TCPConn), r.c.(*net.TCPConn)
}

// relayed sets up outerA <-> [a relay b] <-> outerB over loopback TCP and
// runs the relay in the background. The returned channel yields Run's
// result.
type result struct {
	stats Stats
	err   error
}

func relayed(t testing.TB, ctx context.Context, opts Options) (outerA, outerB *net.TCPConn, done <-chan result) {
	t.Helper()
	outerA, a := tcpPair(t)
	b, outerB := tcpPair(t)
	ch := make(chan result, 1)
	go func() {
		st, err := Run(ctx, a, b, opts)
		ch <- result{st, err}
	}()
	return outerA, outerB, ch
}

func waitResult(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not return")
		return result{}
	}
}

// TestRelayHalfClose checks that a half-close on either side reaches the
// other side while the opposite direction keeps working: the requester
// sends its request and CloseWrites, the responder reads to EOF and only
// then answers.
func TestRelayHalfClose(t *testing.T) {
	tests := []struct {
		name           string
		requesterIsA   bool
		request, reply []byte
	}{
		{"a half-closes first", true, []byte("request from a"), bytes.Repeat([]byte("reply from b "), 10000)},
		{"b half-closes first", false, []byte("request from b"), bytes.Repeat([]byte("reply from a "), 10000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaktest.Check(t)
			outerA, outerB, done := relayed(t, context.Background(), Options{})
			requester, responder := outerA, outerB
			if !tt.requesterIsA {
				requester, responder = outerB, outerA
			}
			if _, err := requester.Write(tt.request); err != nil {
				t.Fatal(err)
			}
			if err := requester.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(responder) // ends only if the half-close arrived
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.request) {
				t.Fatalf("responder got %q, want %q", got, tt.request)
			}
			if _, err := responder.Write(tt.reply); err != nil {
				t.Fatal(err)
			}
			responder.CloseWrite()
			got, err = io.ReadAll(requester)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.reply) {
				t.Fatalf("requester got %d bytes, want %d", len(got), len(tt.reply))
			}
			r := waitResult(t, done)
			if r.err != nil {
				t.Fatalf("Run: %v", r.err)
			}
			wantAToB, wantBToA := uint64(len(tt.request)), uint64(len(tt.reply))
			if !tt.requesterIsA {
				wantAToB, wantBToA = wantBToA, wantAToB
			}
			if r.stats != (Stats{AToB: wantAToB, BToA: wantBToA}) {
				t.Fatalf("stats %+v, want a→b %d b→a %d", r.stats, wantAToB, wantBToA)
			}
		})
	}
}

// TestRelayCountersLive checks that shared counters are visible while the
// relays still run and add up across relays.
func TestRelayCountersLive(t *testing.T) {
	leaktest.Check(t)
	var c Counters
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a1, b1, done1 := relayed(t, ctx, Options{Counters: &c})
	a2, b2, done2 := relayed(t, ctx, Options{Counters: &c})

	send := func(w, r net.Conn, n int) {
		t.Helper()
		if _, err := w.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	send(a1, b1, 1000)
	send(b1, a1, 20)
	send(a2, b2, 300)
	send(b2, a2, 4)
	// The relays count after their Write returns, which may be just after
	// the reader got the bytes: poll, while both relays keep running.
	deadline := time.Now().Add(5 * time.Second)
	for c.AToB.Load() != 1300 || c.BToA.Load() != 24 {
		if time.Now().After(deadline) {
			t.Fatalf("counters while running: AToB %d BToA %d, want 1300 and 24", c.AToB.Load(), c.BToA.Load())
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case r := <-done1:
		t.Fatalf("relay 1 ended early: %v", r.err)
	case r := <-done2:
		t.Fatalf("relay 2 ended early: %v", r.err)
	default:
	}
	cancel()
	r1, r2 := waitResult(t, done1), waitResult(t, done2)
	if !errors.Is(r1.err, context.Canceled) || !errors.Is(r2.err, context.Canceled) {
		t.Fatalf("errors after cancel: %v, %v", r1.err, r2.err)
	}
	if r1.stats != (Stats{1000, 20}) || r2.stats != (Stats{300, 4}) {
		t.Fatalf("per-relay stats %+v %+v", r1.stats, r2.stats)
	}
}

// TestRelayCancelClosesBoth checks that cancelling ctx ends Run with the
// ctx error and that both outer peers see their connection end.
func TestRelayCancelClosesBoth(t *testing.T) {
	leaktest.Check(t)
	ctx, cancel := context.WithCancel(context.Background())
	outerA, outerB, done := relayed(t, ctx, Options{})
	cancel()
	r := waitResult(t, done)
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", r.err)
	}
	for name, c := range map[string]net.Conn{"a": outerA, "b": outerB} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Errorf("outer %s: Read = %d, %v; want the connection closed", name, n, err)
		}
	}
}

// TestRelayWriteErrorAborts checks that when one side is gone, Run stops
// both directions and reports the error instead of hanging.
func TestRelayWriteErrorAborts(t *testing.T) {
	leaktest.Check(t)
	outerA, outerB, done := relayed(t, context.Background(), Options{})
	outerB.SetLinger(0)
	outerB.Close() // RST: writes towards b fail
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	outerA.SetWriteDeadline(deadline)
	for time.Now().Before(deadline) {
		if _, err := outerA.Write(buf); err != nil {
			break
		}
		select {
		case r := <-done:
			if r.err == nil {
				t.Fatal("Run returned nil after the peer reset")
			}
			return
		default:
		}
	}
	r := waitResult(t, done)
	if r.err == nil {
		t.Fatal("Run returned nil after the peer reset")
	}
}

// TestRelayWithoutCloseWriteLingers: when the destination of an ended
// direction cannot half-close (net.Pipe here; an I2P stream over i2pd's SAM
// in real life), the response still flows back, and both sides close once
// the other direction has been quiet for Linger.
func TestRelayWithoutCloseWriteLingers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	outerA, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer outerA.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b, outerB := net.Pipe()
	const linger = 300 * time.Millisecond
	done := make(chan result, 1)
	go func() {
		st, err := Run(context.Background(), a, b, Options{Linger: linger})
		done <- result{st, err}
	}()
	if _, err := outerA.Write([]byte("req")); err != nil {
		t.Fatal(err)
	}
	outerA.(*net.TCPConn).CloseWrite()
	got := make([]byte, 3)
	if _, err := io.ReadFull(outerB, got); err != nil || string(got) != "req" {
		t.Fatalf("b got %q, %v", got, err)
	}
	// The request direction has ended; the response must still arrive.
	if _, err := outerB.Write([]byte("resp")); err != nil {
		t.Fatalf("response after the request ended: %v", err)
	}
	start := time.Now()
	resp, err := io.ReadAll(outerA)
	if err != nil || string(resp) != "resp" {
		t.Fatalf("a got %q, %v", resp, err)
	}
	if quiet := time.Since(start); quiet < linger/2 {
		t.Fatalf("closed after %v of quiet, want about %v", quiet, linger)
	}
	r := <-done
	if r.err != nil || r.stats.AToB != 3 || r.stats.BToA != 4 {
		t.Fatalf("Run = %+v, %v", r.stats, r.err)
	}
}

// TestRelayIdleTimeout checks, on a fake clock, that traffic in either
// direction postpones the idle timeout and that silence for the full
// timeout closes both sides.
func TestRelayIdleTimeout(t *testing.T) {
	const idle = 10 * time.Second
	tests := []struct {
		name     string
		activity []time.Duration // when to send a byte, alternating directions
		wantEnd  time.Duration   // when Run must return
	}{
		{"silent", nil, idle},
		{"one transfer", []time.Duration{4 * time.Second}, 14 * time.Second},
		{"both directions", []time.Duration{3 * time.Second, 9 * time.Second, 18 * time.Second}, 28 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				outerA, a := net.Pipe()
				b, outerB := net.Pipe()
				start := time.Now()
				var end time.Time
				var wg sync.WaitGroup
				done := make(chan result, 1)
				go func() {
					st, err := Run(context.Background(), a, b, Options{IdleTimeout: idle})
					end = time.Now()
					done <- result{st, err}
				}()
				// Drain both outer ends so writes complete.
				for _, c := range []net.Conn{outerA, outerB} {
					wg.Go(func() { io.Copy(io.Discard, c) })
				}
				for i, at := range tt.activity {
					time.Sleep(start.Add(at).Sub(time.Now()))
					w := outerA
					if i%2 == 1 {
						w = outerB
					}
					if _, err := w.Write([]byte{1}); err != nil {
						t.Fatalf("write at %v: %v", at, err)
					}
				}
				// Just before the deadline the relay must still run.
				time.Sleep(start.Add(tt.wantEnd - time.Millisecond).Sub(time.Now()))
				synctest.Wait()
				select {
				case r := <-done:
					t.Fatalf("Run returned early at %v: %v", end.Sub(start), r.err)
				default:
				}
				r := <-done
				if !errors.Is(r.err, ErrIdle) {
					t.Fatalf("Run = %v, want ErrIdle", r.err)
				}
				if got := end.Sub(start); got != tt.wantEnd {
					t.Fatalf("idle close after %v, want %v", got, tt.wantEnd)
				}
				wg.Wait() // the outer ends saw the close
			})
		})
	}
}

// BenchmarkRelay measures throughput of one relay over loopback TCP:
// writer → [relay] → reader, 32 KiB writes.
func BenchmarkRelay(b *testing.B) {
	outerA, outerB, done := relayed(b, context.Background(), Options{Counters: new(Counters)})
	chunk := make([]byte, 32<<10)
	b.SetBytes(int64(len(chunk)))
	readDone := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, outerB)
		readDone <- n
	}()
	var written int64
	for b.Loop() {
		if _, err := outerA.Write(chunk); err != nil {
			b.Fatal(err)
		}
		written += int64(len(chunk))
	}
	outerA.CloseWrite()
	n := <-readDone
	b.StopTimer()
	outerB.CloseWrite()
	<-done
	if n != written {
		b.Fatalf("reader got %d bytes, want %d", n, written)
	}
}
