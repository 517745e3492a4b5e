package streaming_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"i2pbridge/router/streaming"
	"i2pbridge/router/streaming/streamingtest"
)

// TestNoGoroutinesAfterClose runs streams in real time (outside synctest,
// which checks this by itself), closes everything, some streams mid-way,
// and requires the goroutine count to return to where it was.
func TestNoGoroutinesAfterClose(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		n := streamingtest.NewNetwork(streamingtest.Conditions{Loss: 0.02, Seed: 3})
		defer n.Close()
		fast := func(c *streaming.Config) { c.InitialRTO = time.Second }
		a, b := newManager(t, n, 1, fast), newManager(t, n, 2, fast)
		defer a.Close()
		defer b.Close()
		ln, err := b.Listen()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go io.Copy(io.Discard, c)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := range 10 {
			c, err := a.Dial(ctx, b.Addr().Dest, 0)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(time.Hour))
			c.Write(randomBytes(20_000, uint64(i)))
			if i%2 == 0 {
				c.Close() // half of them still busy when the Managers close
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// benchmarkThroughput moves 8 MiB per iteration over one stream, in real
// time, on an in-memory link with the given loss; MB/s is the throughput
// of the protocol machinery (no crypto beyond the SYN/CLOSE signatures,
// no tunnels).
func benchmarkThroughput(b *testing.B, loss float64) {
	n := streamingtest.NewNetwork(streamingtest.Conditions{Loss: loss, Seed: 11})
	defer n.Close()
	src, dst := newManager(b, n, 1, nil), newManager(b, n, 2, nil)
	defer src.Close()
	defer dst.Close()
	ln, err := dst.Listen()
	if err != nil {
		b.Fatal(err)
	}
	const size = 8 << 20
	payload := randomBytes(size, 1)
	b.SetBytes(size)
	var resent uint64
	for b.Loop() {
		got := make(chan error, 1)
		go func() {
			c, err := ln.AcceptStream(context.Background())
			if err != nil {
				got <- err
				return
			}
			m, err := io.Copy(io.Discard, c)
			if err == nil && m != size {
				err = fmt.Errorf("received %d bytes", m)
			}
			c.Close()
			got <- err
		}()
		c, err := src.Dial(context.Background(), dst.Addr().Dest, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(payload); err != nil {
			b.Fatal(err)
		}
		c.CloseWrite()
		if err := <-got; err != nil {
			b.Fatal(err)
		}
		c.Close()
		resent += c.Stats().Retransmissions
	}
	b.ReportMetric(float64(resent)/float64(b.N), "resent/op")
}

func BenchmarkThroughputLossless(b *testing.B) { benchmarkThroughput(b, 0) }
func BenchmarkThroughputLoss1(b *testing.B)    { benchmarkThroughput(b, 0.01) }

// Compile-time checks: the stream types are a net.Conn with CloseWrite and
// a net.Listener.
var (
	_ interface {
		net.Conn
		CloseWrite() error
	} = (*streaming.Conn)(nil)
	_ net.Listener = (*streaming.Listener)(nil)
	_ net.Addr     = streaming.Addr{}
)
