package samnet

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/samnet/samline"
	"i2pbridge/bridge/samnet/samtest"
	"i2pbridge/router/data"
)

func TestOpenNegotiatesVersion(t *testing.T) {
	tests := []struct {
		name       string
		bridgeMax  string
		clientMax  string
		wantVer    string
		wantPorts  bool
		wantPingOK bool
	}{
		// i2pd 2.45 answers MIN=3.0 MAX=3.3 with 3.0 (falls back to MIN).
		{"i2pd-like 3.1 bridge", "3.1", "", "3.0", false, false},
		{"java-like 3.3 bridge", "3.3", "", "3.3", true, true},
		{"3.2 bridge", "3.2", "", "3.2", true, true},
		{"client capped at 3.1", "3.3", "3.1", "3.1", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, samtest.Config{MaxVersion: tt.bridgeMax})
			n := newNet(t, srv.Addr(), func(c *Config) { c.MaxVersion = tt.clientMax })
			s := openSession(t, n, "v", nil)
			if got := s.current().v.String(); got != tt.wantVer {
				t.Fatalf("negotiated %s, want %s", got, tt.wantVer)
			}
			if s.current().v.hasPorts() != tt.wantPorts || s.current().v.hasPing() != tt.wantPingOK {
				t.Fatalf("features of %s: ports %v ping %v", tt.wantVer, s.current().v.hasPorts(), s.current().v.hasPing())
			}
			ss := srv.Sessions()
			if len(ss) != 1 || ss[0].Version != tt.wantVer || ss[0].Dest.Hash() != s.Addr().Dest.Hash() {
				t.Fatalf("bridge sessions = %+v", ss)
			}
		})
	}
}

func TestOpenFailsClearlyWhenBridgeUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	n := newNet(t, addr, nil)
	start := time.Now()
	_, err = n.Open(context.Background(), i2pnet.SessionConfig{Name: "x"})
	if err == nil {
		t.Fatal("Open succeeded without a bridge")
	}
	if want := "sam " + addr + ": connection refused"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Open took %v: it must fail, not retry", d)
	}
}

// scriptedBridge runs a one-off SAM server whose connection handler is
// script; it returns the address.
func scriptedBridge(t *testing.T, script func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
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
				script(c, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String()
}

func TestOpenHelloAnswers(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(hello string) string // reply to each HELLO
		wantErr error
		wantMsg string
		hellos  []string // MAX= asked, in order
	}{
		{"noversion then fallback also refused",
			func(string) string { return "HELLO REPLY RESULT=NOVERSION\n" },
			ErrNoVersion, "NOVERSION", []string{"3.3", "3.1"}},
		{"noversion for 3.3 only: fallback to 3.1 works",
			func(h string) string {
				if strings.Contains(h, "MAX=3.3") {
					return "HELLO REPLY RESULT=NOVERSION\n"
				}
				return "HELLO REPLY RESULT=OK VERSION=3.1\n"
			}, io.EOF, "", []string{"3.3", "3.1"}},
		{"i2p error with message",
			func(string) string { return `HELLO REPLY RESULT=I2P_ERROR MESSAGE="auth required"` + "\n" },
			nil, "I2P_ERROR: auth required", []string{"3.3"}},
		{"version above our max",
			func(string) string { return "HELLO REPLY RESULT=OK VERSION=3.9\n" },
			ErrProtocol, "outside", []string{"3.3"}},
		{"not SAM",
			func(string) string { return "SSH-2.0-OpenSSH_9.2\n" },
			ErrProtocol, "expected HELLO REPLY", []string{"3.3"}},
		{"garbage version",
			func(string) string { return "HELLO REPLY RESULT=OK VERSION=three\n" },
			ErrProtocol, "bad version", []string{"3.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var maxes []string
			addr := scriptedBridge(t, func(c net.Conn, r *bufio.Reader) {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				m, _ := samline.Parse(line)
				mu.Lock()
				maxes = append(maxes, m.Value("MAX"))
				mu.Unlock()
				ans := tt.answer(line)
				for i := 0; i < len(ans); i += 3 { // split into tiny segments
					_, _ = c.Write([]byte(ans[i:min(i+3, len(ans))]))
					time.Sleep(time.Millisecond)
				}
				// Read the next command, answer nothing: SESSION CREATE
				// sees EOF.
				_, _ = r.ReadString('\n')
			})
			n := newNet(t, addr, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := n.Open(ctx, i2pnet.SessionConfig{Name: "h"})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.wantMsg)
			}
			mu.Lock()
			defer mu.Unlock()
			if !reflect.DeepEqual(maxes, tt.hellos) {
				t.Fatalf("HELLO MAX sequence %q, want %q", maxes, tt.hellos)
			}
		})
	}
}

func TestOpenSessionCreateErrors(t *testing.T) {
	tests := []struct {
		name        string
		result, msg string
		times       int
		wantOK      bool
		wantIs      error
		wantText    string
		wantCreates int
	}{
		{"i2p error carries message", "I2P_ERROR", "Unknown STYLE", 1, false, nil, "Unknown STYLE", 1},
		{"duplicated dest", "DUPLICATED_DEST", "", 1, false, ErrDuplicatedDest, "DUPLICATED_DEST", 1},
		{"invalid key", "INVALID_KEY", "", 1, false, nil, "INVALID_KEY", 1},
		{"duplicated id retried with a new id", "DUPLICATED_ID", "", 2, true, nil, "", 3},
		{"duplicated id persistently", "DUPLICATED_ID", "", 5, false, nil, "DUPLICATED_ID", maxDuplicatedID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, samtest.Config{})
			srv.FailCreates(tt.result, tt.msg, tt.times)
			n := newNet(t, srv.Addr(), nil)
			_, err := n.Open(context.Background(), i2pnet.SessionConfig{Name: "e"})
			if tt.wantOK {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
			} else {
				var re *ReplyError
				if !errors.As(err, &re) || re.Result != tt.result {
					t.Fatalf("err = %v, want a ReplyError %s", err, tt.result)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Fatalf("err = %v, want errors.Is %v", err, tt.wantIs)
				}
				if !strings.Contains(err.Error(), tt.wantText) {
					t.Fatalf("err = %q, want %q in it", err, tt.wantText)
				}
			}
			if got := srv.Count("SESSION CREATE"); got != tt.wantCreates {
				t.Fatalf("SESSION CREATE sent %d times, want %d", got, tt.wantCreates)
			}
		})
	}
}

func TestOpenWaitsForSlowCreateBoundedByCtx(t *testing.T) {
	srv := newFake(t, samtest.Config{CreateDelay: 300 * time.Millisecond})
	n := newNet(t, srv.Addr(), nil)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := n.Open(ctx, i2pnet.SessionConfig{Name: "slow"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open with a short ctx: %v, want DeadlineExceeded", err)
	}
	start := time.Now()
	s := openSession(t, n, "slow2", nil)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("Open returned after %v, before SESSION STATUS", d)
	}
	if st, _ := s.State(); st != "up" {
		t.Fatalf("state %s", st)
	}
}

func TestOptionsPassThrough(t *testing.T) {
	opts := map[string]string{"inbound.length": "0", "outbound.quantity": "2", "inbound.nickname": "my tunnel"}
	tests := []struct {
		name    string
		bridge  string
		opts    map[string]string
		wantErr error
	}{
		{"plain options on 3.0", "3.1", map[string]string{"inbound.length": "0", "outbound.quantity": "2"}, nil},
		{"quoted value refused before 3.2", "3.1", opts, samline.ErrNeedsQuoting},
		{"quoted value on 3.3", "3.3", opts, nil},
		{"reserved key", "3.3", map[string]string{"DESTINATION": "x"}, errors.New("set by samnet")},
		{"newline never", "3.3", map[string]string{"a": "b\nc"}, samline.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, samtest.Config{MaxVersion: tt.bridge})
			n := newNet(t, srv.Addr(), nil)
			_, err := n.Open(context.Background(), i2pnet.SessionConfig{Name: "o", Options: tt.opts})
			if tt.wantErr != nil {
				if err == nil || !(errors.Is(err, tt.wantErr) || strings.Contains(err.Error(), tt.wantErr.Error())) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ss := srv.Sessions()
			got := map[string]string{}
			for _, a := range ss[0].Options {
				got[a.Key] = a.Value
			}
			if !reflect.DeepEqual(got, tt.opts) {
				t.Fatalf("bridge got options %v, want %v", got, tt.opts)
			}
		})
	}
}

func TestPersistentKeysAreUsed(t *testing.T) {
	srv := newFake(t, samtest.Config{})
	keys, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	n := newNet(t, srv.Addr(), nil)
	s, err := n.Open(context.Background(), i2pnet.SessionConfig{Name: "p", Keys: &keys})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr().Dest.Hash() != keys.Destination().Hash() {
		t.Fatal("session address is not the keys' destination")
	}
	if ss := srv.Sessions(); ss[0].Dest.Hash() != keys.Destination().Hash() {
		t.Fatal("bridge runs a different destination")
	}
}

func TestStreamBetweenTwoSessions(t *testing.T) {
	tests := []struct {
		name string
		cfg  samtest.Config
	}{
		{"i2pd-like", samtest.Config{}},
		{"split writes", samtest.Config{SplitWrites: true}},
		{"coalesced status lines", samtest.Config{Coalesce: true}},
		{"3.3 with ports", samtest.Config{MaxVersion: "3.3", Coalesce: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, tt.cfg)
			n := newNet(t, srv.Addr(), nil)
			server := openSession(t, n, "server", nil)
			client := openSession(t, n, "client", nil)
			l, err := server.Listen()
			if err != nil {
				t.Fatal(err)
			}
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					t.Error(err)
					close(accepted)
					return
				}
				accepted <- c
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, server.Addr().Dest.B32()+":8080")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sc := <-accepted
			if sc == nil {
				t.FailNow()
			}
			defer sc.Close()
			go func() { _, _ = io.Copy(sc, sc) }()

			msg := make([]byte, 256<<10)
			_, _ = rand.Read(msg)
			roundTrip(t, c, msg)

			ra, ok := sc.RemoteAddr().(i2pnet.Addr)
			if !ok || ra.Dest.Hash() != client.Addr().Dest.Hash() {
				t.Fatalf("accepted RemoteAddr = %v, want the dialer %v", sc.RemoteAddr(), client.Addr())
			}
			la, ok := sc.LocalAddr().(i2pnet.Addr)
			if !ok || la.Dest.Hash() != server.Addr().Dest.Hash() {
				t.Fatalf("accepted LocalAddr = %v, want %v", sc.LocalAddr(), server.Addr())
			}
			wantPort := 0
			if client.current().v.hasPorts() {
				wantPort = 8080
			}
			if la.Port != wantPort {
				t.Fatalf("accepted LocalAddr port %d, want %d", la.Port, wantPort)
			}
			if got := c.RemoteAddr().String(); got != fmt.Sprint(NameAddr{Name: server.Addr().Dest.B32(), Port: wantPort}) {
				t.Fatalf("dialed RemoteAddr %q", got)
			}
			if c.LocalAddr().(i2pnet.Addr).Dest.Hash() != client.Addr().Dest.Hash() {
				t.Fatal("dialed LocalAddr is not the client")
			}
		})
	}
}

// A server that speaks first (a banner) sends bytes the bridge may put in
// the same segment as STREAM STATUS; they must reach the dialer.
func TestBytesAfterStatusLineAreDelivered(t *testing.T) {
	srv := newFake(t, samtest.Config{Coalesce: true, CoalesceWait: 5 * time.Second})
	n := newNet(t, srv.Addr(), nil)
	server := openSession(t, n, "server", nil)
	client := openSession(t, n, "client", nil)
	l, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "220 banner\r\n")
		_, _ = io.Copy(io.Discard, c)
	}()
	c, err := client.Dial(context.Background(), server.Addr().Dest.Base64())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := c.(*streamConn)
	if sc.r.Buffered() == 0 {
		t.Fatal("the fake did not coalesce; the test checks nothing")
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "220 banner\r\n" {
		t.Fatalf("banner = %q, %v", line, err)
	}
	if ra, ok := c.RemoteAddr().(i2pnet.Addr); !ok || ra.Dest.Hash() != server.Addr().Dest.Hash() {
		t.Fatalf("RemoteAddr of a base64 dial = %v", c.RemoteAddr())
	}
}

func TestConcurrentIncomingStreams(t *testing.T) {
	tests := []struct {
		bridge      string
		wantPending int
	}{
		// Below 3.2 one ACCEPT at a time (i2pd 2.45 corrupts streams
		// otherwise); the bridge's backlog holds the others meanwhile.
		{"3.1", 1},
		{"3.3", 4},
	}
	for _, tt := range tests {
		t.Run(tt.bridge, func(t *testing.T) {
			srv := newFake(t, samtest.Config{MaxVersion: tt.bridge, PendingTimeout: 5 * time.Second})
			n := newNet(t, srv.Addr(), func(c *Config) { c.AcceptPool = 4 })
			server := openSession(t, n, "server", nil)
			client := openSession(t, n, "client", nil)
			l, err := server.Listen()
			if err != nil {
				t.Fatal(err)
			}
			id := server.current().id
			waitFor(t, "pending ACCEPTs", func() bool { return srv.PendingAccepts(id) == tt.wantPending })
			time.Sleep(50 * time.Millisecond)
			if got := srv.PendingAccepts(id); got != tt.wantPending {
				t.Fatalf("%d ACCEPTs pending, want %d", got, tt.wantPending)
			}
			echoServer(t, l)
			const streams = 12
			var wg sync.WaitGroup
			for i := range streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := client.Dial(context.Background(), server.Addr().Dest.B32())
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					roundTrip(t, c, []byte(fmt.Sprintf("stream %d", i)))
				}()
			}
			wg.Wait()
		})
	}
}

func TestSingleAcceptBridgeShrinksPool(t *testing.T) {
	srv := newFake(t, samtest.Config{MaxVersion: "3.3", SingleAccept: true})
	n := newNet(t, srv.Addr(), func(c *Config) { c.AcceptPool = 3 })
	server := openSession(t, n, "server", nil)
	client := openSession(t, n, "client", nil)
	l, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, l)
	waitFor(t, "pool shrunk to 1", func() bool {
		ln := l.(*listener)
		ln.mu.Lock()
		defer ln.mu.Unlock()
		return ln.running == 1
	})
	for i := range 3 {
		c, err := client.Dial(context.Background(), server.Addr().Dest.B32())
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, []byte{byte(i)})
		c.Close()
	}
}

func TestDialErrorsMapToSentinels(t *testing.T) {
	tests := []struct {
		name     string
		fail     string // FailConnects result
		msg      string
		address  func(other *Session) string
		wantIs   error
		wantNot  error
		wantText string
	}{
		{"cant reach peer", ResultCantReachPeer, "", nil, i2pnet.ErrUnreachable, i2pnet.ErrUnknownName, "CANT_REACH_PEER"},
		{"timeout", ResultTimeout, "", nil, i2pnet.ErrUnreachable, nil, "TIMEOUT"},
		{"peer not found", ResultPeerNotFound, "", nil, i2pnet.ErrUnreachable, nil, ""},
		{"invalid key", ResultInvalidKey, "", nil, i2pnet.ErrUnknownName, i2pnet.ErrUnreachable, ""},
		{"key not found", ResultKeyNotFound, "", nil, i2pnet.ErrUnknownName, nil, ""},
		{"i2p error keeps message", ResultI2PError, "tunnel build failed", nil, nil, i2pnet.ErrUnreachable, "tunnel build failed"},
		{"unknown b32", "", "", func(*Session) string {
			return data.HashOf([]byte("nobody")).B32()
		}, i2pnet.ErrUnreachable, nil, ""},
		{"unknown host name", "", "", func(*Session) string { return "nosuch.i2p:80" }, i2pnet.ErrUnknownName, nil, "INVALID_KEY"},
		{"not an i2p address", "", "", func(*Session) string { return "example.com:80" }, i2pnet.ErrUnknownName, nil, "not an I2P address"},
		{"bad port", "", "", func(o *Session) string { return o.Addr().Dest.B32() + ":99999" }, i2pnet.ErrUnknownName, nil, "bad port"},
		{"encrypted b33", "", "", func(*Session) string {
			return strings.Repeat("a", 56) + ".b32.i2p"
		}, i2pnet.ErrUnknownName, nil, ""},
	}
	srv := newFake(t, samtest.Config{PendingTimeout: 100 * time.Millisecond})
	n := newNet(t, srv.Addr(), nil)
	s := openSession(t, n, "dialer", nil)
	other := openSession(t, n, "other", nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.FailConnects(tt.fail, tt.msg)
			defer srv.FailConnects("", "")
			addr := other.Addr().Dest.B32()
			if tt.address != nil {
				addr = tt.address(other)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := s.Dial(ctx, addr)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
			if tt.wantNot != nil && errors.Is(err, tt.wantNot) {
				t.Fatalf("err = %v must not be %v", err, tt.wantNot)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("err = %q, want %q in it", err, tt.wantText)
			}
		})
	}
}

func TestDialByHostNameResolvesFirst(t *testing.T) {
	srv := newFake(t, samtest.Config{})
	n := newNet(t, srv.Addr(), nil)
	server := openSession(t, n, "server", nil)
	client := openSession(t, n, "client", nil)
	srv.AddName("peer.i2p", server.Addr().Dest)
	l, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, l)
	c, err := client.Dial(context.Background(), "Peer.I2P:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, []byte("hello"))
	if ra, ok := c.RemoteAddr().(i2pnet.Addr); !ok || ra.Dest.Hash() != server.Addr().Dest.Hash() || ra.Port != 0 {
		t.Fatalf("RemoteAddr = %#v, want the server without port (SAM 3.0)", c.RemoteAddr())
	}
	if got := srv.Count("NAMING LOOKUP"); got != 1 {
		t.Fatalf("NAMING LOOKUP sent %d times, want 1", got)
	}
}

func TestResolve(t *testing.T) {
	srv := newFake(t, samtest.Config{MaxVersion: "3.3"})
	n := newNet(t, srv.Addr(), nil)
	s := openSession(t, n, "r", nil)
	other := openSession(t, n, "o", nil)
	srv.AddName("known.i2p", other.Addr().Dest)
	tests := []struct {
		name       string
		in         string
		want       data.Destination
		wantIs     error
		wantLookup bool
	}{
		{"me", "ME", s.Addr().Dest, nil, true},
		{"b32 of a live destination", other.Addr().Dest.B32(), other.Addr().Dest, nil, true},
		{"upper-case b32", strings.ToUpper(other.Addr().Dest.B32()), other.Addr().Dest, nil, true},
		{"hosts name", "known.i2p", other.Addr().Dest, nil, true},
		{"base64 parsed locally", other.Addr().Dest.Base64(), other.Addr().Dest, nil, false},
		{"unknown name", "unknown.i2p", data.Destination{}, i2pnet.ErrUnknownName, true},
		{"b32 without leaseset", data.HashOf([]byte("x")).B32(), data.Destination{}, i2pnet.ErrUnreachable, true},
		{"clearnet name", "example.com", data.Destination{}, i2pnet.ErrUnknownName, false},
		{"bad base64", strings.Repeat("!", 600), data.Destination{}, i2pnet.ErrUnknownName, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Count("NAMING LOOKUP")
			d, err := s.Resolve(context.Background(), tt.in)
			if tt.wantIs != nil {
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("err = %v, want %v", err, tt.wantIs)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if d.Hash() != tt.want.Hash() {
				t.Fatalf("resolved to %v, want %v", d, tt.want)
			}
			if looked := srv.Count("NAMING LOOKUP") > before; looked != tt.wantLookup {
				t.Fatalf("NAMING LOOKUP sent: %v, want %v", looked, tt.wantLookup)
			}
		})
	}
}

// Many concurrent lookups share the control socket one command at a time;
// the fake flags any command written before the previous reply.
func TestConcurrentResolvesAreSerialised(t *testing.T) {
	srv := newFake(t, samtest.Config{SplitWrites: true})
	n := newNet(t, srv.Addr(), nil)
	s := openSession(t, n, "r", nil)
	var wg sync.WaitGroup
	const lookups = 10
	for range lookups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := s.Resolve(context.Background(), "ME")
			if err != nil || d.Hash() != s.Addr().Dest.Hash() {
				t.Errorf("Resolve(ME) = %v, %v", d, err)
			}
		}()
	}
	wg.Wait()
	if got := srv.Count("NAMING LOOKUP"); got != lookups {
		t.Fatalf("%d lookups reached the bridge", got)
	}
}

func TestReconnectAfterControlDrop(t *testing.T) {
	for _, bridge := range []string{"3.1", "3.3"} {
		t.Run(bridge, func(t *testing.T) {
			srv := newFake(t, samtest.Config{MaxVersion: bridge})
			n := newNet(t, srv.Addr(), nil)
			server := openKeyedSession(t, n, "server") // persistent keys
			client := openSession(t, n, "client", nil) // transient keys
			addr, clientAddr := server.Addr(), client.Addr()
			firstID := server.current().id
			l, err := server.Listen()
			if err != nil {
				t.Fatal(err)
			}
			echoServer(t, l)

			srv.DropControl()
			waitFor(t, "both sessions re-created", func() bool {
				ss := srv.Sessions()
				return len(ss) == 2 && server.current().id != firstID
			})
			waitState(t, server, "up")
			waitState(t, client, "up")
			if server.Addr() != addr {
				t.Fatal("address changed across reconnect")
			}
			// A transient session comes back under a new destination,
			// so peers' routers hold no state bound to the old one.
			if client.Addr() == clientAddr {
				t.Fatal("transient session kept its address across reconnect")
			}
			found := false
			for _, si := range srv.Sessions() {
				found = found || si.Dest.Hash() == addr.Dest.Hash()
			}
			if !found {
				t.Fatal("re-created session does not use the same keys")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, addr.Dest.B32())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			roundTrip(t, c, []byte("after reconnect"))
		})
	}
}

// TestDroppedAcceptRecreatesSession: a router that closes the pending
// ACCEPTs while the control socket stays up (i2pd resetting a dying
// destination's acceptors) gets a new session, and streams arrive again.
func TestDroppedAcceptRecreatesSession(t *testing.T) {
	srv := newFake(t, samtest.Config{})
	n := newNet(t, srv.Addr(), nil)
	server := openSession(t, n, "server", nil)
	client := openSession(t, n, "client", nil)
	l, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Count("STREAM ACCEPT") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	creates := srv.Count("SESSION CREATE")
	srv.DropAccepts()
	for srv.Count("SESSION CREATE") == creates && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := srv.Count("SESSION CREATE"); got != creates+1 {
		t.Fatalf("SESSION CREATEs after the dropped accept: %d, want %d", got, creates+1)
	}
	waitState(t, server, "up")
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, server.Addr().Dest.B32())
		if err != nil {
			t.Error(err)
			return
		}
		c.Write([]byte("hi"))
		c.Close()
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("stream after the new session: %q, %v", buf, err)
	}
}

func TestAcceptAndDialSurviveBridgeRestart(t *testing.T) {
	// LookupTimeout: the client's session may come back before the
	// server's; the bridge then waits for the leaseset like a router.
	srv := newFake(t, samtest.Config{LookupTimeout: 5 * time.Second})
	n := newNet(t, srv.Addr(), nil)
	server := openSession(t, n, "server", nil)
	client := openSession(t, n, "client", nil)
	l, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- c
		}
	}()

	srv.Stop()
	waitState(t, server, "reconnecting")
	if _, err := server.State(); err == nil {
		t.Fatal("State has no error while reconnecting")
	}
	// A Dial during the outage waits, bounded by its ctx.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	_, err = client.Dial(ctx, server.Addr().Dest.B32())
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial during outage: %v, want DeadlineExceeded", err)
	}
	// One started now completes once the bridge is back.
	dialed := make(chan net.Conn, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, server.Addr().Dest.B32())
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	time.Sleep(200 * time.Millisecond) // several failed reconnect attempts
	select {
	case err := <-acceptErr:
		t.Fatalf("Accept returned during the outage: %v", err)
	default:
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitState(t, server, "up")
	c := <-dialed
	if c == nil {
		t.FailNow()
	}
	defer c.Close()
	select {
	case sc := <-accepted:
		defer sc.Close()
		go func() { _, _ = io.Copy(sc, sc) }()
	case err := <-acceptErr:
		t.Fatalf("Accept: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no stream accepted after the restart")
	}
	roundTrip(t, c, []byte("back"))
	if st, err := server.State(); st != "up" || err != nil {
		t.Fatalf("State = %s, %v", st, err)
	}
}

func TestReconnectRetriesWhileRouterHoldsOldSession(t *testing.T) {
	srv := newFake(t, samtest.Config{StaleSessionTTL: 300 * time.Millisecond})
	n := newNet(t, srv.Addr(), nil)
	s := openKeyedSession(t, n, "s")
	srv.DropControl()
	var sawDup bool
	waitFor(t, "session up again", func() bool {
		st, err := s.State()
		sawDup = sawDup || errors.Is(err, ErrDuplicatedDest)
		return st == "up" && srv.Count("SESSION CREATE") > 1
	})
	if !sawDup {
		t.Fatal("State never reported DUPLICATED_DEST while the router held the old session")
	}
	if srv.Count("SESSION CREATE") < 3 {
		t.Fatalf("only %d SESSION CREATEs: no retry happened", srv.Count("SESSION CREATE"))
	}
	// DUPLICATED_ID after a drop: retried at once with another ID.
	id := s.current().id
	srv.FailCreates(ResultDuplicatedID, "", 1)
	srv.DropControl()
	waitFor(t, "session up with a new ID", func() bool {
		st, _ := s.State()
		return st == "up" && s.current().id != id
	})
}

func TestKeepAlive(t *testing.T) {
	t.Run("no PING below 3.2", func(t *testing.T) {
		srv := newFake(t, samtest.Config{MaxVersion: "3.1"})
		n := newNet(t, srv.Addr(), func(c *Config) { c.KeepAlive = 10 * time.Millisecond })
		s := openSession(t, n, "k", nil)
		time.Sleep(200 * time.Millisecond)
		if got := srv.Count("PING"); got != 0 {
			t.Fatalf("%d PINGs sent to a 3.0 bridge", got)
		}
		if st, _ := s.State(); st != "up" {
			t.Fatalf("state %s", st)
		}
	})
	t.Run("PING on 3.3", func(t *testing.T) {
		srv := newFake(t, samtest.Config{MaxVersion: "3.3"})
		n := newNet(t, srv.Addr(), func(c *Config) { c.KeepAlive = 10 * time.Millisecond })
		s := openSession(t, n, "k", nil)
		waitFor(t, "PINGs", func() bool { return srv.Count("PING") >= 3 })
		if st, _ := s.State(); st != "up" || srv.Count("SESSION CREATE") != 1 {
			t.Fatalf("state %s after %d creates", st, srv.Count("SESSION CREATE"))
		}
	})
	t.Run("unanswered PING re-creates the session", func(t *testing.T) {
		srv := newFake(t, samtest.Config{MaxVersion: "3.3", IgnorePing: true})
		n := newNet(t, srv.Addr(), func(c *Config) {
			c.KeepAlive = 20 * time.Millisecond
			c.KeepAliveTimeout = 50 * time.Millisecond
		})
		openSession(t, n, "k", nil)
		waitFor(t, "a second SESSION CREATE", func() bool { return srv.Count("SESSION CREATE") >= 2 })
	})
	t.Run("bridge PING is answered", func(t *testing.T) {
		srv := newFake(t, samtest.Config{MaxVersion: "3.3"})
		n := newNet(t, srv.Addr(), nil)
		s := openSession(t, n, "k", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Ping(ctx, s.current().id); err != nil {
			t.Fatal(err)
		}
	})
}

func TestListenerLifecycle(t *testing.T) {
	srv := newFake(t, samtest.Config{})
	n := newNet(t, srv.Addr(), nil)
	s := openSession(t, n, "l", nil)
	l, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Listen(); !errors.Is(err, ErrListening) {
		t.Fatalf("second Listen: %v", err)
	}
	if l.Addr().String() != s.Addr().Dest.B32() {
		t.Fatalf("listener Addr %v", l.Addr())
	}
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if st, _ := s.State(); st != "up" {
		t.Fatalf("closing the listener changed the session to %s", st)
	}
	waitFor(t, "pending ACCEPTs closed", func() bool { return srv.PendingAccepts(s.current().id) == 0 })
	l2, err := s.Listen()
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	l2.Close()
}

func TestCloseIsCleanAndFinal(t *testing.T) {
	srv, err := samtest.NewServer(samtest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	n := New(Config{Addr: srv.Addr(), Logger: testLogger(t), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	server := openSession(t, n, "server", nil)
	client := openSession(t, n, "client", nil)
	l, err := server.Listen()
	if err != nil {
		t.Fatal(err)
	}
	acceptErr := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = io.Copy(c, c) // ends when the session closes the stream
			_, err = l.Accept()
		}
		acceptErr <- err
	}()
	c, err := client.Dial(context.Background(), server.Addr().Dest.B32())
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, []byte("x"))

	// A Dial waiting through an outage must end with the session.
	srv.Stop()
	waitState(t, client, "reconnecting")
	dialErr := make(chan error, 1)
	go func() {
		_, err := client.Dial(context.Background(), server.Addr().Dest.B32())
		dialErr <- err
	}()
	time.Sleep(50 * time.Millisecond)

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-acceptErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if err := <-dialErr; !errors.Is(err, i2pnet.ErrClosed) {
		t.Fatalf("waiting Dial after Close: %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("stream still open after the session closed")
	}
	if st, _ := server.State(); st != "closed" {
		t.Fatalf("state %s", st)
	}
	if _, err := server.Listen(); !errors.Is(err, i2pnet.ErrClosed) {
		t.Fatalf("Listen after Close: %v", err)
	}
	if _, err := n.Open(context.Background(), i2pnet.SessionConfig{Name: "late"}); !errors.Is(err, i2pnet.ErrClosed) {
		t.Fatalf("Open after Close: %v", err)
	}
	srv.Close()
	checkNoLeaks(t)
}

func TestSessionCloseDuringOpen(t *testing.T) {
	srv, err := samtest.NewServer(samtest.Config{CreateDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	n := New(Config{Addr: srv.Addr(), Logger: testLogger(t)})
	errc := make(chan error, 1)
	go func() {
		_, err := n.Open(context.Background(), i2pnet.SessionConfig{Name: "x"})
		errc <- err
	}()
	waitFor(t, "SESSION CREATE", func() bool { return srv.Count("SESSION CREATE") == 1 })
	n.Close()
	if err := <-errc; !errors.Is(err, i2pnet.ErrClosed) {
		t.Fatalf("Open interrupted by Close: %v", err)
	}
	srv.Close()
	checkNoLeaks(t)
}

// minimalBridge answers HELLO with version and SESSION CREATE with dest
// (nil: echo the client's keys); then it hands every further line to
// onLine. It counts SESSION CREATEs.
func minimalBridge(t *testing.T, version string, dest func(sent string) string, onLine func(c net.Conn, line string)) (addr string, creates func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	addr = scriptedBridge(t, func(c net.Conn, r *bufio.Reader) {
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		fmt.Fprintf(c, "HELLO REPLY RESULT=OK VERSION=%s\n", version)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			m, err := samline.Parse(line)
			if err != nil {
				return
			}
			if m.Is("SESSION", "CREATE") {
				mu.Lock()
				n++
				mu.Unlock()
				d := m.Value("DESTINATION")
				if dest != nil {
					d = dest(d)
				}
				fmt.Fprintf(c, "SESSION STATUS RESULT=OK DESTINATION=%s\n", d)
				continue
			}
			onLine(c, line)
		}
	})
	return addr, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestOpenRejectsForeignDestination(t *testing.T) {
	other, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := minimalBridge(t, "3.0", func(string) string { return other.Base64() }, func(net.Conn, string) {})
	n := newNet(t, addr, nil)
	_, err = n.Open(context.Background(), i2pnet.SessionConfig{Name: "x"})
	if !errors.Is(err, ErrKeysMismatch) {
		t.Fatalf("Open: %v, want ErrKeysMismatch", err)
	}
}

// A bridge that stops answering on the control socket (3.0: no PING to
// notice) is caught by CommandTimeout and the session is re-created.
func TestWedgedControlSocketIsReplaced(t *testing.T) {
	addr, creates := minimalBridge(t, "3.0", nil, func(net.Conn, string) {}) // never answers
	n := newNet(t, addr, func(c *Config) { c.CommandTimeout = 100 * time.Millisecond })
	s := openSession(t, n, "w", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	if _, err := s.Resolve(ctx, "ME"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Resolve on a wedged bridge: %v", err)
	}
	if got := creates(); got < 2 {
		t.Fatalf("%d SESSION CREATEs: the wedged control socket was not replaced", got)
	}
}

// Unsolicited lines and PINGs from the bridge do not disturb a command in
// flight on the control socket.
func TestControlSocketIgnoresUnsolicitedLines(t *testing.T) {
	var me string
	addr, _ := minimalBridge(t, "3.2", func(d string) string {
		k, err := data.ParsePrivateKeysBase64(d)
		if err == nil {
			me = k.Destination().Base64()
		}
		return d
	}, func(c net.Conn, line string) {
		if strings.HasPrefix(line, "NAMING LOOKUP") {
			fmt.Fprintf(c, "PING 7\nNAMING REPLY RESULT=OK NAME=ME VALUE=%s\n", me)
		}
	})
	n := newNet(t, addr, func(c *Config) { c.KeepAlive = -1 })
	s := openSession(t, n, "u", nil)
	d, err := s.Resolve(context.Background(), "ME")
	if err != nil || d.Hash() != s.Addr().Dest.Hash() {
		t.Fatalf("Resolve(ME) = %v, %v", d, err)
	}
}

// A bridge that accepts every session and drops it at once must not make
// the watcher spin: re-creation after a short-lived session backs off.
func TestFlappingSessionBacksOff(t *testing.T) {
	var mu sync.Mutex
	creates := 0
	addr := scriptedBridge(t, func(c net.Conn, r *bufio.Reader) {
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		fmt.Fprint(c, "HELLO REPLY RESULT=OK VERSION=3.0\n")
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		m, _ := samline.Parse(line)
		mu.Lock()
		creates++
		mu.Unlock()
		fmt.Fprintf(c, "SESSION STATUS RESULT=OK DESTINATION=%s\n", m.Value("DESTINATION"))
		time.Sleep(5 * time.Millisecond) // then hang up
	})
	n := newNet(t, addr, func(c *Config) {
		c.MinBackoff = 20 * time.Millisecond
		c.MaxBackoff = time.Second
	})
	openSession(t, n, "f", nil)
	time.Sleep(time.Second)
	mu.Lock()
	got := creates
	mu.Unlock()
	// 20ms doubling to 1s: about 7 attempts in a second; a spinning
	// watcher makes hundreds.
	if got > 15 {
		t.Fatalf("%d SESSION CREATEs in 1s: the watcher does not back off", got)
	}
	if got < 3 {
		t.Fatalf("%d SESSION CREATEs: the watcher does not re-create", got)
	}
}

// TestStaleDestinationGuard: below SAM 3.2 a SESSION CREATE answered at once
// is taken for i2pd's dying destination and created again after StaleWait;
// a router that takes its time, or speaks 3.2+, is trusted on the first
// answer.
func TestStaleDestinationGuard(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     samtest.Config
		creates int
	}{
		{"i2pd 2.45 answering at once", samtest.Config{MaxVersion: "3.1"}, 2},
		{"i2pd 2.45 after its readiness wait", samtest.Config{MaxVersion: "3.1", CreateDelay: 1200 * time.Millisecond}, 1},
		{"SAM 3.3 router", samtest.Config{MaxVersion: "3.3"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, tc.cfg)
			n := newNet(t, srv.Addr(), func(c *Config) {
				c.StaleAnswer = time.Second
				c.StaleWait = 50 * time.Millisecond
			})
			openSession(t, n, "server", nil)
			if got := srv.Count("SESSION CREATE"); got != tc.creates {
				t.Fatalf("SESSION CREATEs = %d, want %d", got, tc.creates)
			}
		})
	}
}

// openKeyedSession opens a session with persistent (generated) keys.
func openKeyedSession(t *testing.T, n *Network, name string) *Session {
	t.Helper()
	keys, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := n.Open(ctx, i2pnet.SessionConfig{Name: name, Keys: &keys})
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	return s.(*Session)
}
