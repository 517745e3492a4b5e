package samnet

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/samnet/samtest"
)

// testLogger logs to the test output with -v, and discards otherwise.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newFake(t *testing.T, cfg samtest.Config) *samtest.Server {
	t.Helper()
	srv, err := samtest.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Close()
		if v := srv.Violations(); len(v) > 0 && !t.Failed() {
			t.Errorf("SAM protocol violations seen by the fake bridge: %q", v)
		}
	})
	return srv
}

// newNet returns a Network on addr with test-speed backoff.
func newNet(t *testing.T, addr string, mod func(*Config)) *Network {
	t.Helper()
	cfg := Config{
		Addr:       addr,
		Logger:     testLogger(t),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 100 * time.Millisecond,
		// The fake answers SESSION CREATE at once; the stale-destination
		// guard has its own test.
		StaleAnswer: -1,
	}
	if mod != nil {
		mod(&cfg)
	}
	n := New(cfg)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func openSession(t *testing.T, n *Network, name string, opts map[string]string) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := n.Open(ctx, i2pnet.SessionConfig{Name: name, Options: opts})
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	return s.(*Session)
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitState(t *testing.T, s *Session, want string) {
	t.Helper()
	waitFor(t, "state "+want, func() bool { st, _ := s.State(); return st == want })
}

// echoServer accepts streams on l and echoes them until l closes.
func echoServer(t *testing.T, l net.Listener) {
	t.Helper()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
}

// roundTrip writes msg on c and reads it back (through an echo server).
func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo mismatch: %d bytes differ", len(msg))
	}
}

// checkNoLeaks fails if goroutines running package code outlive Close.
// Goroutines started by the test itself (a _test.go frame) are ignored.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	var leaked []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaked = leaked[:0]
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "i2pbridge/bridge/samnet") && !strings.Contains(g, "_test.go") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines leaked, first:\n%s", len(leaked), leaked[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inCI reports whether missing prerequisites must fail rather than skip.
func inCI() bool { return os.Getenv("CI") == "true" }
