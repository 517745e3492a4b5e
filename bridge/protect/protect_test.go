package protect

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/config"
	"i2pbridge/router/data"
)

// clock is a settable time source for the rate limits.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func hashOf(b byte) data.Hash {
	var h data.Hash
	for i := range h {
		h[i] = b + byte(i)
	}
	return h
}

func mustGuard(t *testing.T, cfg Config) *Guard {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// reasonOf is the refusal reason of err, "" when admitted.
func reasonOf(t *testing.T, err error) Reason {
	t.Helper()
	if err == nil {
		return ""
	}
	var rej *RejectedError
	if !errors.As(err, &rej) || !errors.Is(err, ErrRejected) {
		t.Fatalf("error %v is not a *RejectedError", err)
	}
	return rej.Reason
}

func TestAccessLists(t *testing.T) {
	a, b, c := hashOf(1), hashOf(2), hashOf(3)
	keys, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := keys.Destination()
	tests := []struct {
		name  string
		cfg   Config
		peer  data.Hash
		want  Reason
		count bool // the refusal shows in Rejected
	}{
		{"no lists admit everyone", Config{}, a, "", false},
		{"deny by b32", Config{Deny: []string{a.B32()}}, a, Denied, true},
		{"deny by upper-case b32", Config{Deny: []string{strings.ToUpper(a.B32())}}, a, Denied, true},
		{"deny leaves others alone", Config{Deny: []string{a.B32()}}, b, "", false},
		{"deny by base64", Config{Deny: []string{d.Base64()}}, d.Hash(), Denied, true},
		{"allow-only admits the listed", Config{Allow: []string{a.B32(), b.B32()}}, b, "", false},
		{"allow-only refuses the rest", Config{Allow: []string{a.B32(), b.B32()}}, c, NotAllowed, true},
		{"deny wins over allow", Config{Allow: []string{a.B32()}, Deny: []string{a.B32()}}, a, Denied, true},
		{"allow-only refuses an unknown caller", Config{Allow: []string{a.B32()}}, data.Hash{}, NotAllowed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGuard(t, tt.cfg)
			release, err := g.Admit(tt.peer)
			if got := reasonOf(t, err); got != tt.want {
				t.Fatalf("Admit = %q, want %q", got, tt.want)
			}
			if err == nil {
				release()
			}
			if got := g.Rejected()[string(tt.want)]; tt.count && got != 1 {
				t.Errorf("Rejected[%s] = %d, want 1", tt.want, got)
			}
			if !tt.count && g.Rejected() != nil {
				t.Errorf("Rejected = %v, want none", g.Rejected())
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Allow: []string{"nope.i2p"}},
		{Deny: []string{"abc.b32.i2p"}},
		{MaxStreams: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}

func TestRatePerMinuteRefusesTheSixth(t *testing.T) {
	clk := newClock()
	g := mustGuard(t, Config{MaxConnsPerMinute: 5, Now: clk.Now})
	a, b := hashOf(1), hashOf(2)
	for i := range 5 {
		release, err := g.Admit(a)
		if err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
		release() // rates count streams opened, not streams open
	}
	_, err := g.Admit(a)
	if got := reasonOf(t, err); got != RateMinute {
		t.Fatalf("6th stream: %q, want %q", got, RateMinute)
	}
	var rej *RejectedError
	errors.As(err, &rej)
	if rej.RetryAfter != 12*time.Second { // one token per 60/5 s
		t.Errorf("RetryAfter = %v, want 12s", rej.RetryAfter)
	}
	if _, err := g.Admit(b); err != nil {
		t.Errorf("another caller was limited too: %v", err)
	}
	clk.Advance(11 * time.Second)
	if _, err := g.Admit(a); reasonOf(t, err) != RateMinute {
		t.Error("admitted before a token was back")
	}
	clk.Advance(time.Second)
	if _, err := g.Admit(a); err != nil {
		t.Errorf("after 12 s: %v", err)
	}
	if _, err := g.Admit(a); reasonOf(t, err) != RateMinute {
		t.Error("one refill admitted two streams")
	}
	if got := g.Rejected()[string(RateMinute)]; got != 3 {
		t.Errorf("Rejected[rate_minute] = %d, want 3", got)
	}
}

func TestRatePerHour(t *testing.T) {
	clk := newClock()
	g := mustGuard(t, Config{MaxConnsPerMinute: 10, MaxConnsPerHour: 3, Now: clk.Now})
	a := hashOf(1)
	for i := range 3 {
		if _, err := g.Admit(a); err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
	}
	for range 4 {
		if _, err := g.Admit(a); reasonOf(t, err) != RateHour {
			t.Fatalf("4th stream in the hour: %v, want %s", err, RateHour)
		}
	}
	// The refusals did not use up minute tokens: 7 remain of 10.
	clk.Advance(20 * time.Minute) // one hour token back
	if _, err := g.Admit(a); err != nil {
		t.Fatalf("after 20 min: %v", err)
	}
	g.mu.Lock()
	minute := g.peers[a].minute.tokens
	g.mu.Unlock()
	if minute < 9 { // refilled to 10 by now, minus this stream
		t.Errorf("minute bucket %.1f: refused streams cost minute tokens", minute)
	}
}

func TestStreamCaps(t *testing.T) {
	g := mustGuard(t, Config{MaxStreams: 3, MaxStreamsPerDest: 2})
	a, b, c := hashOf(1), hashOf(2), hashOf(3)
	ra1, err := g.Admit(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Admit(a); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Admit(a); reasonOf(t, err) != StreamsPerDest {
		t.Fatalf("3rd stream of one caller: %v, want %s", err, StreamsPerDest)
	}
	rb, err := g.Admit(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Admit(c); reasonOf(t, err) != Streams {
		t.Fatalf("4th stream in total: %v, want %s", err, Streams)
	}
	if g.Open() != 3 {
		t.Errorf("Open = %d, want 3", g.Open())
	}
	ra1()
	ra1() // a second release must not free a second slot
	if g.Open() != 2 {
		t.Errorf("Open after release = %d, want 2", g.Open())
	}
	if _, err := g.Admit(c); err != nil {
		t.Errorf("after a release: %v", err)
	}
	if _, err := g.Admit(c); reasonOf(t, err) != Streams {
		t.Errorf("double release freed a slot: %v", err)
	}
	rb()
	if _, err := g.Admit(a); err != nil {
		t.Errorf("caller a after b's release: %v", err)
	}
	want := map[string]uint64{string(StreamsPerDest): 1, string(Streams): 2}
	for k, v := range want {
		if got := g.Rejected()[k]; got != v {
			t.Errorf("Rejected[%s] = %d, want %d", k, got, v)
		}
	}
}

// TestSweepForgetsIdleCallers: per-caller state goes once it limits nothing.
func TestSweepForgetsIdleCallers(t *testing.T) {
	clk := newClock()
	g := mustGuard(t, Config{MaxConnsPerMinute: 5, MaxConnsPerHour: 1, Now: clk.Now}) // 1/h: full again only after an hour
	var held func()
	for i := range 100 {
		r, err := g.Admit(hashOf(byte(i)))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			held = r // still open: must survive the sweep
		} else {
			r()
		}
	}
	if g.tracked() != 100 {
		t.Fatalf("tracked = %d", g.tracked())
	}
	clk.Advance(30 * time.Minute) // minute buckets full, hour buckets not yet
	g.Admit(hashOf(200))
	if g.tracked() != 101 {
		t.Errorf("swept callers whose hour bucket was not full: %d left", g.tracked())
	}
	clk.Advance(31 * time.Minute)
	g.Admit(hashOf(201))
	if g.tracked() != 3 { // the open stream's caller, 200 (bucket not full), 201
		t.Errorf("tracked after sweep = %d, want 3", g.tracked())
	}
	held()
}

func TestNoPerCallerStateWithoutPerCallerLimits(t *testing.T) {
	g := mustGuard(t, Config{MaxStreams: 10})
	for i := range 5 {
		if _, err := g.Admit(hashOf(byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	if g.tracked() != 0 {
		t.Errorf("tracked %d callers with only a total cap", g.tracked())
	}
}

func TestLoopbackFor(t *testing.T) {
	tests := []struct {
		h    [3]byte
		want string
	}{
		{[3]byte{10, 20, 30}, "127.10.20.31"},
		{[3]byte{0, 0, 0}, "127.1.0.1"},             // clear of 127.0/16, no .0
		{[3]byte{255, 255, 253}, "127.255.255.254"}, // no .255
		{[3]byte{255, 255, 254}, "127.255.255.1"},
	}
	for _, tt := range tests {
		var h data.Hash
		copy(h[:], tt.h[:])
		if got := LoopbackFor(h).String(); got != tt.want {
			t.Errorf("LoopbackFor(%v) = %s, want %s", tt.h, got, tt.want)
		}
	}
	if g := mustGuard(t, Config{}); g.LocalAddr(hashOf(1)) != nil {
		t.Error("LocalAddr without unique_local is not nil")
	}
}

// TestUniqueLocalSourceAddresses dials a real loopback listener from the
// LocalAddr of two callers: the target sees two different 127.x addresses.
func TestUniqueLocalSourceAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g := mustGuard(t, Config{UniqueLocal: true})
	seen := map[string]bool{}
	for _, h := range []data.Hash{hashOf(1), hashOf(2)} {
		d := net.Dialer{LocalAddr: g.LocalAddr(h), Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial from %v: %v", g.LocalAddr(h), err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		host, _, _ := net.SplitHostPort(s.RemoteAddr().String())
		if host != LoopbackFor(h).String() {
			t.Errorf("target saw %s, want %s", host, LoopbackFor(h))
		}
		seen[host] = true
		c.Close()
		s.Close()
	}
	if len(seen) != 2 {
		t.Errorf("two callers share a source address: %v", seen)
	}
}

// TestListenerAdmitsAndRefuses runs real streams through a guarded
// listener: a denied caller never reaches Accept, its refusal is answered
// by the Refuser and counted, and closing an accepted conn frees its slot.
func TestListenerAdmitsAndRefuses(t *testing.T) {
	n := i2pnettest.New()
	defer n.Close()
	ctx := context.Background()
	open := func(name string) i2pnet.Session {
		s, err := n.Open(ctx, i2pnet.SessionConfig{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	srv, good, bad := open("srv"), open("good"), open("bad")
	g := mustGuard(t, Config{Deny: []string{bad.Addr().Dest.B32()}, MaxStreams: 1})
	raw, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	refused := make(chan Reason, 4)
	ln := g.Listener(raw, func(c net.Conn, rej *RejectedError) {
		io.WriteString(c, "no: "+string(rej.Reason)+"\n")
		refused <- rej.Reason
	})
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()

	dial := func(s i2pnet.Session) net.Conn {
		c, err := s.Dial(ctx, srv.Addr().Dest.B32())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	readAll := func(c net.Conn) string {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b)
	}

	cb := dial(bad)
	if got := readAll(cb); got != "no: denied\n" {
		t.Errorf("denied caller read %q", got)
	}
	if r := <-refused; r != Denied {
		t.Errorf("refuser got %s", r)
	}

	cg := dial(good)
	var sc net.Conn
	select {
	case sc = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("allowed caller not accepted")
	}
	if PeerOf(sc).Hash() != good.Addr().Dest.Hash() || ShortPeer(sc) != good.Addr().Dest.Hash().Short() {
		t.Errorf("accepted conn names caller %s", ShortPeer(sc))
	}
	if _, ok := sc.(interface{ CloseWrite() error }); !ok {
		t.Error("wrapped stream lost CloseWrite")
	}
	cg2 := dial(good) // over max_streams while the first is open
	if got := readAll(cg2); got != "no: streams\n" {
		t.Errorf("second stream read %q", got)
	}
	<-refused
	sc.Close()
	if g.Open() != 0 {
		t.Errorf("Open after Close = %d", g.Open())
	}
	cg3 := dial(good)
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("slot not freed by Close")
	}
	for _, c := range []net.Conn{cb, cg, cg2, cg3} {
		c.Close()
	}
	if got := g.Rejected(); got[string(Denied)] != 1 || got[string(Streams)] != 1 {
		t.Errorf("Rejected = %v", got)
	}
}

func TestEndpointWritesB32AndCloses(t *testing.T) {
	n := i2pnettest.New()
	defer n.Close()
	dir := t.TempDir()
	g := mustGuard(t, Config{})
	tun := config.Tunnel{Name: "web", Type: "http-server", Keys: filepath.Join(dir, "web.dat")}
	e, err := NewEndpoint(EndpointConfig{Tunnel: tun, Network: n, Datadir: dir, Guard: g})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := e.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b32 := e.Address()
	if !strings.HasSuffix(b32, ".b32.i2p") {
		t.Fatalf("Address = %q", b32)
	}
	got, err := os.ReadFile(filepath.Join(dir, "web.b32"))
	if err != nil || string(got) != b32+"\n" {
		t.Errorf("web.b32 = %q, %v; want %q", got, err, b32+"\n")
	}
	ln.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if e.Address() != "" {
		t.Error("Address after Close is not empty")
	}
	// The keys file makes the address survive a reopen.
	ln, err = e.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	defer ln.Close()
	if e.Address() != b32 {
		t.Errorf("reopened as %s, was %s", e.Address(), b32)
	}
	for _, bad := range []EndpointConfig{{Tunnel: tun, Guard: g}, {Tunnel: tun, Network: n}, {Tunnel: config.Tunnel{Name: "../x"}, Network: n, Guard: g}} {
		if _, err := NewEndpoint(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("NewEndpoint(%+v) = %v, want ErrConfig", bad, err)
		}
	}
}

func TestFromTunnel(t *testing.T) {
	tun := config.Tunnel{Protect: config.Protect{Allow: []string{"a"}, Deny: []string{"b"}, MaxConnsPerMinute: 1,
		MaxConnsPerHour: 2, MaxStreams: 3, MaxStreamsPerDest: 4, UniqueLocal: true}}
	got := FromTunnel(tun)
	want := Config{Allow: []string{"a"}, Deny: []string{"b"}, MaxConnsPerMinute: 1, MaxConnsPerHour: 2,
		MaxStreams: 3, MaxStreamsPerDest: 4, UniqueLocal: true}
	if got.Allow[0] != want.Allow[0] || got.Deny[0] != want.Deny[0] || got.MaxConnsPerMinute != 1 || got.MaxConnsPerHour != 2 ||
		got.MaxStreams != 3 || got.MaxStreamsPerDest != 4 || !got.UniqueLocal {
		t.Errorf("FromTunnel = %+v, want %+v", got, want)
	}
}

func TestLimiter(t *testing.T) {
	clk := newClock()
	l, err := NewLimiter(2, time.Minute, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	a, b := hashOf(1), hashOf(2)
	for i := range 2 {
		if ok, _ := l.Take(a); !ok {
			t.Fatalf("take %d refused", i+1)
		}
	}
	ok, wait := l.Take(a)
	if ok || wait != 30*time.Second {
		t.Errorf("3rd take: %v, wait %v; want refused, 30s", ok, wait)
	}
	if ok, _ := l.Take(b); !ok {
		t.Error("another destination limited too")
	}
	clk.Advance(30 * time.Second)
	if ok, _ := l.Take(a); !ok {
		t.Error("refused after the wait")
	}
	clk.Advance(2 * time.Minute)
	l.Take(b) // sweeps the full buckets
	l.mu.Lock()
	n := len(l.buckets)
	l.mu.Unlock()
	if n != 1 {
		t.Errorf("%d buckets after the sweep, want 1", n)
	}
	for _, bad := range [][2]int{{0, 1}, {-1, 1}, {1, 0}} {
		if _, err := NewLimiter(bad[0], time.Duration(bad[1])*time.Minute, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("NewLimiter(%v) = %v", bad, err)
		}
	}
}
