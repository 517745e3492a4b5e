package serve

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"i2pbridge/bridge/relay"
)

// TestRunStopsOnCancel: Serve's ctx ending returns nil, after every
// handler (a hijacked one too, which sees its request ctx end) returned.
func TestRunStopsOnCancel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var handlerDone atomic.Bool
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		close(started)
		<-r.Context().Done()
		handlerDone.Store(true)
	})
	counters := new(relay.Counters)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, ln, h, Options{Counters: counters}) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	if counters.Conns.Load() != 1 || counters.TotalConns.Load() != 1 {
		t.Errorf("counters: %d open, %d total", counters.Conns.Load(), counters.TotalConns.Load())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if !handlerDone.Load() {
		t.Error("Run returned before the hijacked handler")
	}
	if counters.Conns.Load() != 0 {
		t.Errorf("%d connections still counted open", counters.Conns.Load())
	}
}

// TestRunListenerFailure: a failing listener is an error, and a request in
// flight still gets its answer.
func TestRunListenerFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ln.Close() // the owner closes it, as a tunnel that lost its session does
		time.Sleep(50 * time.Millisecond)
		io.WriteString(w, "still answered")
	})
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), ln, h, Options{}) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "still answered" {
		t.Errorf("body %q", b)
	}
	if err := <-done; err == nil || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Run = %v, want the listener's error", err)
	}
}

// TestHijackedKeepsBufferedBytes: bytes the client sent right behind its
// request come first, and a half-close of the client does not cancel the
// request's context (reading past rw.Reader would).
func TestHijackedKeepsBufferedBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n")
		b, _ := io.ReadAll(Hijacked(c, rw))
		if r.Context().Err() != nil {
			got <- "context cancelled"
			return
		}
		got <- string(b)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, ln, h, Options{}) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "CONNECT x:1 HTTP/1.1\r\nHost: x:1\r\n\r\nearly")
	br := bufio.NewReader(c)
	if _, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "-late")
	c.(*net.TCPConn).CloseWrite()
	if s := <-got; s != "early-late" {
		t.Errorf("read %q, want early-late", s)
	}
}

func TestWriteB32(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	if err := WriteB32(dir, "n", "abc.b32.i2p"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "n.b32"))
	if err != nil || string(b) != "abc.b32.i2p\n" {
		t.Errorf("%q %v", b, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
	if err := WriteB32("", "n", "x"); err != nil {
		t.Errorf("empty dir: %v", err)
	}
}
