package netx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/nettest"
)

// TestMemConnConformance runs x/net's net.Conn conformance suite (basic
// I/O, ping-pong, racy reads and writes, deadlines, Close semantics) over
// Mem connections: a router on Mem must see what it would see on TCP.
func TestMemConnConformance(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		m := NewMem()
		ln, err := m.Listen(context.Background(), "tcp", "198.19.1.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		type res struct {
			c   net.Conn
			err error
		}
		acc := make(chan res, 1)
		go func() { c, err := ln.Accept(); acc <- res{c, err} }()
		c1, err = m.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			ln.Close()
			return nil, nil, nil, err
		}
		r := <-acc
		if r.err != nil {
			ln.Close()
			return nil, nil, nil, r.err
		}
		return c1, r.c, func() { c1.Close(); r.c.Close(); ln.Close() }, nil
	})
}

func TestMemListenAddresses(t *testing.T) {
	ctx := context.Background()
	m := NewMem()
	tests := []struct {
		name    string
		network string
		addr    string
		wantErr error
	}{
		{"fixed port", "tcp", "198.19.1.1:12345", nil},
		{"same address again", "tcp", "198.19.1.1:12345", ErrAddrInUse},
		{"same port other host", "tcp", "198.19.1.2:12345", nil},
		{"port zero", "tcp", "198.19.1.1:0", nil},
		{"ipv6", "tcp6", "[2001:db8::1]:0", nil},
		{"host name", "tcp", "localhost:80", ErrAddress},
		{"no port", "tcp", "198.19.1.1", ErrAddress},
		{"udp", "udp", "198.19.1.1:1", ErrNetwork},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := m.Listen(ctx, tc.network, tc.addr)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Listen(%q) error %v, want %v", tc.addr, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			// Leave it open: later cases depend on the table.
			ap := ln.Addr().(*net.TCPAddr).AddrPort()
			if ap.Port() == 0 {
				t.Fatal("listener got port 0")
			}
			if want, _ := netip.ParseAddrPort(tc.addr); want.Port() != 0 && ap != want {
				t.Fatalf("listening on %v, want %v", ap, want)
			}
		})
	}
}

// TestMemPortZeroNeverCollides: port 0 listens get distinct ports and
// never one that is taken.
func TestMemPortZeroNeverCollides(t *testing.T) {
	m := NewMem()
	taken, err := m.Listen(context.Background(), "tcp", "198.19.1.1:20001")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{taken.Addr().String(): true}
	for range 50 {
		ln, err := m.Listen(context.Background(), "tcp", "198.19.1.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if seen[ln.Addr().String()] {
			t.Fatalf("port 0 listen reused %v", ln.Addr())
		}
		seen[ln.Addr().String()] = true
	}
}

func TestMemDialRefused(t *testing.T) {
	ctx := context.Background()
	m := NewMem()
	if _, err := m.DialContext(ctx, "tcp", "198.19.1.9:1"); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial to nothing: %v, want ErrRefused", err)
	}
	ln, err := m.Listen(ctx, "tcp", "198.19.1.9:1")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := m.DialContext(ctx, "tcp", "198.19.1.9:1"); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial to closed listener: %v, want ErrRefused", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	// The address is free again.
	ln2, err := m.Listen(ctx, "tcp", "198.19.1.9:1")
	if err != nil {
		t.Fatalf("listen after close: %v", err)
	}
	ln2.Close()
}

func TestMemUnspecifiedListenerTakesAnyAddress(t *testing.T) {
	ctx := context.Background()
	m := NewMem()
	ln, err := m.Listen(ctx, "tcp", "0.0.0.0:4000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := m.From(netip.MustParseAddr("198.19.1.7")).DialContext(ctx, "tcp", "198.19.1.3:4000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.RemoteAddr().(*net.TCPAddr).AddrPort().Addr(); got != netip.MustParseAddr("198.19.1.7") {
		t.Fatalf("server sees remote %v, want the From address", got)
	}
	if got := c.RemoteAddr().String(); got != "198.19.1.3:4000" {
		t.Fatalf("client sees remote %v", got)
	}
}

// TestMemCloseSemantics: the peer of a closed end reads what was written
// and then EOF; its writes fail with EPIPE; the closed end itself reports
// net.ErrClosed.
func TestMemCloseSemantics(t *testing.T) {
	a, b := newPipe(&net.TCPAddr{}, &net.TCPAddr{}, 16)
	if _, err := a.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "bye" {
		t.Fatalf("peer read %q, %v; want \"bye\", EOF", got, err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write to closed peer: %v, want EPIPE", err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on closed end: %v, want net.ErrClosed", err)
	}
}

// TestMemWriteBackpressure: a writer blocks when the peer's buffer is full
// and resumes as the peer reads; both ends can write before reading as long
// as the buffers hold it (what net.Pipe cannot do).
func TestMemWriteBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(&net.TCPAddr{}, &net.TCPAddr{}, 8)
		defer a.Close()
		defer b.Close()
		// Both write first: fits in the buffers.
		if _, err := a.Write([]byte("12345678")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Write([]byte("abcdefgh")); err != nil {
			t.Fatal(err)
		}
		done := make(chan int)
		go func() {
			n, _ := a.Write([]byte("more"))
			done <- n
		}()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Write into a full buffer did not block")
		default:
		}
		buf := make([]byte, 8)
		if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "12345678" {
			t.Fatalf("read %q, %v", buf, err)
		}
		if n := <-done; n != 4 {
			t.Fatalf("blocked Write wrote %d, want 4", n)
		}
		if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "abcdefgh" {
			t.Fatalf("read %q, %v", buf, err)
		}
	})
}

func TestMemDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(&net.TCPAddr{}, &net.TCPAddr{}, 4)
		defer a.Close()
		defer b.Close()
		start := time.Now()
		a.SetReadDeadline(start.Add(3 * time.Second))
		_, err := a.Read(make([]byte, 1))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v, want deadline exceeded", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read error %v is not a net.Error timeout", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("read deadline fired after %v", d)
		}
		// Clearing the deadline makes reads block again, until data comes.
		a.SetReadDeadline(time.Time{})
		go func() {
			time.Sleep(time.Second)
			b.Write([]byte("x"))
		}()
		if n, err := a.Read(make([]byte, 1)); n != 1 || err != nil {
			t.Fatalf("read after clearing deadline: %d, %v", n, err)
		}
		// Writes into a full buffer time out; n says how much went in.
		a.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := a.Write([]byte("123456"))
		if n != 4 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write: %d, %v; want 4, deadline exceeded", n, err)
		}
		// A deadline in the past fails at once.
		b.SetDeadline(time.Now().Add(-time.Second))
		if _, err := b.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read with past deadline: %v", err)
		}
	})
}

// TestMemConcurrentConnections dials many connections at once through one
// listener and checks every byte arrives on the right one.
func TestMemConcurrentConnections(t *testing.T) {
	defer checkGoroutines(t)()
	ctx := context.Background()
	m := NewMem()
	m.PipeBuffer = 1024 // force backpressure
	ln, err := m.Listen(ctx, "tcp", "198.19.1.1:7000")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // echo server
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	const conns = 20
	var cwg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			c, err := m.DialContext(ctx, "tcp", "198.19.1.1:7000")
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := bytes.Repeat([]byte{byte(i)}, 10000)
			go c.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, msg) {
				errs <- errors.New("echo mismatch")
			}
		}()
	}
	cwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ln.Close()
	wg.Wait()
}

func TestTCPLoopback(t *testing.T) {
	ctx := context.Background()
	var n TCP
	ln, err := n.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := n.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hi" {
		t.Fatalf("read %q, %v", got, err)
	}
	if _, err := n.DialContext(ctx, "udp", "127.0.0.1:1"); !errors.Is(err, ErrNetwork) {
		t.Fatalf("udp dial: %v, want ErrNetwork", err)
	}
}

// checkGoroutines returns a function that fails the test if goroutines
// started since remain after a grace period.
func checkGoroutines(t *testing.T) func() {
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	}
}
