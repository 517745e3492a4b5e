package i2pnettest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/router/data"
)

func open(t *testing.T, n *Network, cfg i2pnet.SessionConfig) *Session {
	t.Helper()
	s, err := n.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Session)
}

func listen(t *testing.T, s *Session) net.Listener {
	t.Helper()
	l, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// acceptOne accepts a stream in the background.
func acceptOne(l net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

// TestDialByEveryAddressForm checks that a stream reaches the listener by
// b32, base64 and hosts name, with and without a port, and that the addrs
// on both ends name the right destinations.
func TestDialByEveryAddressForm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		defer n.Close()
		keys, err := data.GeneratePrivateKeys(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		server := open(t, n, i2pnet.SessionConfig{Name: "server", Keys: &keys})
		client := open(t, n, i2pnet.SessionConfig{Name: "client"})
		if server.Addr().Dest != keys.Destination() {
			t.Fatal("server Addr is not the destination of its keys")
		}
		n.AddHost("Echo.i2p", keys.Destination())
		l := listen(t, server)
		defer l.Close()

		tests := []struct {
			address  string
			wantPort int
		}{
			{keys.Destination().B32(), 0},
			{strings.ToUpper(keys.Destination().B32()) + ":80", 80},
			{keys.Destination().Base64(), 0},
			{keys.Destination().Base64() + ":8080", 8080},
			{"echo.i2p", 0},
			{"ECHO.i2p:22", 22},
		}
		for _, tt := range tests {
			accepted := acceptOne(l)
			c, err := client.Dial(context.Background(), tt.address)
			if err != nil {
				t.Fatalf("Dial(%.20s…): %v", tt.address, err)
			}
			a := <-accepted
			if a == nil {
				t.Fatal("Accept failed")
			}
			if got := c.RemoteAddr().(i2pnet.Addr); got.Dest != keys.Destination() || got.Port != tt.wantPort {
				t.Errorf("%.20s…: dialer RemoteAddr = %v", tt.address, got)
			}
			if got := a.LocalAddr().(i2pnet.Addr); got.Dest != keys.Destination() || got.Port != tt.wantPort {
				t.Errorf("%.20s…: acceptor LocalAddr = %v", tt.address, got)
			}
			if got := a.RemoteAddr().(i2pnet.Addr); got.Dest != client.Addr().Dest {
				t.Errorf("acceptor RemoteAddr = %v, want the client", got)
			}
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(a, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("read %q, %v", buf, err)
			}
			c.Close()
			a.Close()
		}
		if got := server.Conns() + client.Conns(); got != 0 {
			t.Errorf("%d stream ends still registered after closing all", got)
		}
	})
}

// TestDialErrors checks the error kinds a tunnel relies on.
func TestDialErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		defer n.Close()
		client := open(t, n, i2pnet.SessionConfig{Name: "client"})
		silent := open(t, n, i2pnet.SessionConfig{Name: "silent"}) // never listens
		offline, err := data.GeneratePrivateKeys(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			address string
			want    error
		}{
			{"nobody.i2p", i2pnet.ErrUnknownName},
			{"not base64 at all", i2pnet.ErrUnknownName},
			{"short.b32.i2p", i2pnet.ErrUnknownName},
			{offline.Destination().B32(), i2pnet.ErrUnreachable},
			{offline.Destination().Base64(), i2pnet.ErrUnreachable},
			{silent.Addr().Dest.B32(), i2pnet.ErrUnreachable},
			{silent.Addr().Dest.B32() + ":http", i2pnet.ErrUnknownName},
		}
		for _, tt := range tests {
			if _, err := client.Dial(context.Background(), tt.address); !errors.Is(err, tt.want) {
				t.Errorf("Dial(%.30s) = %v, want %v", tt.address, err, tt.want)
			}
		}
		if _, err := client.Resolve(context.Background(), offline.Destination().Base64()); err != nil {
			t.Errorf("Resolve(base64) of an offline destination: %v", err)
		}
		if _, err := client.Resolve(context.Background(), offline.Destination().B32()); !errors.Is(err, i2pnet.ErrUnreachable) {
			t.Errorf("Resolve(b32) of an offline destination = %v, want ErrUnreachable", err)
		}
	})
}

// TestHalfCloseAndClose checks CloseWrite (the peer reads EOF and can still
// answer) and Close (the peer drains, then EOF; its writes fail).
func TestHalfCloseAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		defer n.Close()
		server := open(t, n, i2pnet.SessionConfig{Name: "server"})
		client := open(t, n, i2pnet.SessionConfig{Name: "client"})
		l := listen(t, server)
		accepted := acceptOne(l)
		c, err := client.Dial(context.Background(), server.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a := <-accepted
		big := bytes.Repeat([]byte("0123456789abcdef"), 3*windowSize/16) // > window: the writer must block
		go func() {
			c.Write(big)
			c.(*Conn).CloseWrite()
		}()
		got, err := io.ReadAll(a)
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("ReadAll = %d bytes, %v", len(got), err)
		}
		if _, err := c.Write([]byte("x")); err == nil {
			t.Error("Write after CloseWrite succeeded")
		}
		if _, err := a.Write([]byte("answer")); err != nil {
			t.Fatalf("answer after the peer's half-close: %v", err)
		}
		a.Close()
		got, err = io.ReadAll(c)
		if err != nil || string(got) != "answer" {
			t.Fatalf("dialer read %q, %v", got, err)
		}
		c.Close()
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close = %v, want net.ErrClosed", err)
		}
	})
}

// TestDeadlines checks read and write deadlines, on a fake clock.
func TestDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		defer n.Close()
		server := open(t, n, i2pnet.SessionConfig{Name: "server"})
		client := open(t, n, i2pnet.SessionConfig{Name: "client"})
		accepted := acceptOne(listen(t, server))
		c, err := client.Dial(context.Background(), server.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a := <-accepted

		start := time.Now()
		c.SetReadDeadline(start.Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want deadline exceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Fatalf("read deadline fired after %v", d)
		}
		c.SetReadDeadline(time.Time{}) // cleared: reads work again
		go a.Write([]byte("late"))
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Fatalf("Read after clearing the deadline: %v", err)
		}

		// Nobody reads a: the window fills and the write times out.
		c.SetWriteDeadline(time.Now().Add(time.Second))
		nw, err := c.Write(make([]byte, 2*windowSize))
		if !errors.Is(err, os.ErrDeadlineExceeded) || nw != windowSize {
			t.Fatalf("Write = %d, %v; want %d, deadline exceeded", nw, err, windowSize)
		}
	})
}

// TestSessionCloseResetsStreams checks Close semantics: listener close keeps
// the session; session close resets streams and takes it offline; Network
// Close closes every session.
func TestSessionCloseResetsStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		server := open(t, n, i2pnet.SessionConfig{Name: "server"})
		client := open(t, n, i2pnet.SessionConfig{Name: "client"})
		l := listen(t, server)
		accepted := acceptOne(l)
		c, err := client.Dial(context.Background(), server.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a := <-accepted
		if _, err := server.Listen(); err == nil {
			t.Error("second Listen succeeded")
		}

		l.Close()
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) || !errors.Is(err, i2pnet.ErrClosed) {
			t.Errorf("Accept after Close = %v", err)
		}
		if _, err := c.Write([]byte("still open")); err != nil {
			t.Fatalf("stream died with its listener: %v", err)
		}
		if _, err := io.ReadFull(a, make([]byte, 10)); err != nil {
			t.Fatal(err)
		}

		server.Close()
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrReset) {
			t.Errorf("peer Read after session Close = %v, want ErrReset", err)
		}
		if _, err := a.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("own Read after session Close = %v, want net.ErrClosed", err)
		}
		if _, err := client.Dial(context.Background(), server.Addr().String()); !errors.Is(err, i2pnet.ErrUnreachable) {
			t.Errorf("Dial to a closed session = %v, want ErrUnreachable", err)
		}
		if _, err := server.Dial(context.Background(), client.Addr().String()); !errors.Is(err, i2pnet.ErrClosed) {
			t.Errorf("Dial from a closed session = %v, want ErrClosed", err)
		}

		n.Close()
		if _, err := client.Listen(); !errors.Is(err, i2pnet.ErrClosed) {
			t.Errorf("Listen after Network.Close = %v", err)
		}
		if _, err := n.Open(context.Background(), i2pnet.SessionConfig{}); !errors.Is(err, i2pnet.ErrClosed) {
			t.Errorf("Open after Network.Close = %v", err)
		}
	})
}

// TestFaults checks FailNextOpen, FailNextDial, Drop and that a dropped
// destination can be reopened with the same keys.
func TestFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New()
		defer n.Close()
		ctx := context.Background()
		keys, err := data.GeneratePrivateKeys(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cfg := i2pnet.SessionConfig{Name: "server", Keys: &keys, Options: map[string]string{"inbound.length": "1"}}

		n.FailNextOpen(ErrInjected)
		if _, err := n.Open(ctx, cfg); !errors.Is(err, ErrInjected) {
			t.Fatalf("Open = %v, want the injected error", err)
		}
		server := open(t, n, cfg)
		if got := server.Config().Options["inbound.length"]; got != "1" {
			t.Errorf("Config().Options not kept: %q", got)
		}
		if _, err := n.Open(ctx, cfg); !errors.Is(err, ErrDuplicate) {
			t.Errorf("second Open of one destination = %v, want ErrDuplicate", err)
		}
		if n.Session("server") != server {
			t.Error("Session(name) did not find the session")
		}
		client := open(t, n, i2pnet.SessionConfig{Name: "client"})
		l := listen(t, server)

		n.FailNextDial(ErrInjected)
		if _, err := client.Dial(ctx, server.Addr().String()); !errors.Is(err, ErrInjected) {
			t.Fatalf("Dial = %v, want the injected error", err)
		}
		accepted := acceptOne(l)
		c, err := client.Dial(ctx, server.Addr().String())
		if err != nil {
			t.Fatalf("Dial after the one injected failure: %v", err)
		}
		<-accepted

		acceptErr := make(chan error, 1)
		go func() {
			_, err := l.Accept()
			acceptErr <- err
		}()
		synctest.Wait() // Accept is blocked
		server.Drop(ErrInjected)
		if err := <-acceptErr; !errors.Is(err, ErrInjected) {
			t.Errorf("Accept after Drop = %v", err)
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrReset) {
			t.Errorf("stream after Drop = %v, want ErrReset", err)
		}
		if n.Session("server") != nil {
			t.Error("Session(name) returned a dropped session")
		}
		again := open(t, n, cfg) // the destination is offline: reopening works
		if again.Addr() != server.Addr() {
			t.Error("reopened session has another address")
		}
		server.Close() // closing the dropped one must not take the new one offline
		accepted = acceptOne(listen(t, again))
		if _, err := client.Dial(ctx, again.Addr().String()); err != nil {
			t.Fatalf("Dial to the reopened destination: %v", err)
		}
		<-accepted
	})
}

// TestPeerNetworks checks that two Networks of one I2P reach each other and
// close independently.
func TestPeerNetworks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n1 := New()
		n2 := n1.NewPeer()
		server := open(t, n1, i2pnet.SessionConfig{Name: "server"})
		client := open(t, n2, i2pnet.SessionConfig{Name: "client"})
		n2.AddHost("svc.i2p", server.Addr().Dest) // the address book is shared
		accepted := acceptOne(listen(t, server))
		if _, err := client.Dial(context.Background(), "svc.i2p"); err != nil {
			t.Fatal(err)
		}
		<-accepted
		n2.Close()
		if _, err := server.Listen(); err == nil {
			t.Error("second Listen succeeded")
		}
		if err := server.usable(); err != nil {
			t.Errorf("closing the peer network closed our session: %v", err)
		}
		n1.Close()
	})
}

// TestManyParallelStreams moves data over many streams at once (run with
// -race).
func TestManyParallelStreams(t *testing.T) {
	n := New()
	defer n.Close()
	server := open(t, n, i2pnet.SessionConfig{Name: "server"})
	client := open(t, n, i2pnet.SessionConfig{Name: "client"})
	l := listen(t, server)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.(*Conn).CloseWrite()
			}()
		}
	}()
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			c, err := client.Dial(context.Background(), server.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			msg := bytes.Repeat([]byte{byte(i)}, 100000+i)
			go func() {
				c.Write(msg)
				c.(*Conn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("stream %d: %d bytes, %v", i, len(got), err)
			}
		})
	}
	wg.Wait()
}
