package irctunnel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"i2pbridge/bridge/leaktest"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/bridge/protect"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
)

// ircd is a tiny IRC server: registration (NICK, USER, WEBIRC), JOIN,
// PRIVMSG/NOTICE to channels and nicks, PING, QUIT. It records every line
// it receives and the address of every connection.
type ircd struct {
	ln net.Listener
	wg sync.WaitGroup

	mu      sync.Mutex
	lines   []string
	remotes []string
	users   map[string]*ircdUser // by nick
	chans   map[string][]*ircdUser
}

type ircdUser struct {
	c                net.Conn
	nick, user, host string
	webircHost       string
	registered       bool
}

func (u *ircdUser) mask() string { return u.nick + "!" + u.user + "@" + u.host }

func (u *ircdUser) send(format string, args ...any) {
	fmt.Fprintf(u.c, format+"\r\n", args...)
}

func newIRCd(t *testing.T) *ircd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &ircd{ln: ln, users: map[string]*ircdUser{}, chans: map[string][]*ircdUser{}}
	t.Cleanup(func() {
		ln.Close()
		d.mu.Lock()
		for _, u := range d.users {
			u.c.Close()
		}
		d.mu.Unlock()
		d.wg.Wait()
	})
	d.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.mu.Lock()
			d.remotes = append(d.remotes, c.RemoteAddr().String())
			d.mu.Unlock()
			d.wg.Go(func() { d.serve(c) })
		}
	})
	return d
}

func (d *ircd) addr() string { return d.ln.Addr().String() }

func (d *ircd) received() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.lines)
}

func (d *ircd) serve(c net.Conn) {
	defer c.Close()
	u := &ircdUser{c: c}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := sc.Text()
		d.mu.Lock()
		d.lines = append(d.lines, line)
		d.mu.Unlock()
		m, err := ircmsg.ParseLine(line)
		if err != nil {
			continue
		}
		d.mu.Lock()
		quit := d.command(u, m)
		d.mu.Unlock()
		if quit {
			return
		}
	}
	d.mu.Lock()
	if d.users[u.nick] == u {
		delete(d.users, u.nick)
	}
	d.mu.Unlock()
}

// command handles one message; d.mu held.
func (d *ircd) command(u *ircdUser, m ircmsg.Message) (quit bool) {
	switch m.Command {
	case "WEBIRC":
		if len(m.Params) == 4 && m.Params[0] == "sesame" {
			u.webircHost = m.Params[2]
		}
	case "NICK":
		u.nick = m.Params[0]
		d.users[u.nick] = u
	case "USER":
		u.user, u.host = m.Params[0], m.Params[1]
		if u.webircHost != "" {
			u.host = u.webircHost
		}
	case "JOIN":
		ch := m.Params[0]
		d.chans[ch] = append(d.chans[ch], u)
		for _, o := range d.chans[ch] {
			o.send(":%s JOIN %s", u.mask(), ch)
		}
	case "PRIVMSG", "NOTICE":
		to, text := m.Params[0], m.Params[1]
		targets := d.chans[to]
		if o := d.users[to]; o != nil {
			targets = []*ircdUser{o}
		}
		for _, o := range targets {
			if o != u {
				o.send(":%s %s %s :%s", u.mask(), m.Command, to, text)
			}
		}
	case "PING":
		u.send(":irc.test PONG irc.test :%s", m.Params[0])
	case "QUIT":
		return true
	}
	if !u.registered && u.nick != "" && u.user != "" {
		u.registered = true
		u.send(":irc.test 001 %s :Welcome %s", u.nick, u.mask())
	}
	return false
}

// ircClient is a plain IRC client on a TCP connection.
type ircClient struct {
	t     *testing.T
	c     net.Conn
	lines chan string
	mu    sync.Mutex
	all   []string
}

func dialIRC(t *testing.T, addr string) *ircClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return newIRCClient(t, c)
}

func newIRCClient(t *testing.T, c net.Conn) *ircClient {
	ic := &ircClient{t: t, c: c, lines: make(chan string, 100)}
	t.Cleanup(func() { c.Close() })
	go func() {
		defer close(ic.lines)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			ic.mu.Lock()
			ic.all = append(ic.all, sc.Text())
			ic.mu.Unlock()
			ic.lines <- sc.Text()
		}
	}()
	return ic
}

func (ic *ircClient) send(lines ...string) {
	ic.t.Helper()
	for _, l := range lines {
		if _, err := io.WriteString(ic.c, l+"\r\n"); err != nil {
			ic.t.Fatalf("send %q: %v", l, err)
		}
	}
}

// expect reads lines until one contains want.
func (ic *ircClient) expect(want string) string {
	ic.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-ic.lines:
			if !ok {
				ic.t.Fatalf("connection closed while waiting for %q", want)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			ic.t.Fatalf("no line containing %q in 10 s", want)
		}
	}
}

func (ic *ircClient) received() []string {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return slices.Clone(ic.all)
}

type tunnel interface {
	Open(ctx context.Context) error
	Serve(ctx context.Context) error
	Close() error
}

// run opens tun and serves it until the test ends; stop (also run at
// cleanup) cancels Serve, checks it returned nil and closes the tunnel.
func run(t *testing.T, tun tunnel) (stop func()) {
	t.Helper()
	if err := tun.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tun.Serve(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after cancel")
		}
		tun.Close()
	})
	t.Cleanup(stop)
	return stop
}

// chat is ircd ← irc-server ← fake I2P ← irc-client(s).
type chat struct {
	net      *i2pnettest.Network
	ircd     *ircd
	server   *Server
	counters *relay.Counters
	stop     func() // stops the irc-server
}

func newChat(t *testing.T, tweak func(*config.Tunnel)) *chat {
	t.Helper()
	ch := &chat{net: i2pnettest.New(), ircd: newIRCd(t), counters: new(relay.Counters)}
	t.Cleanup(func() { ch.net.Close() })
	dir := t.TempDir()
	tun := config.Tunnel{Name: "ircd", Type: TypeServer, Target: ch.ircd.addr(), Keys: filepath.Join(dir, "ircd.dat")}
	if tweak != nil {
		tweak(&tun)
	}
	var err error
	ch.server, err = NewServer(Config{Tunnel: tun, Network: ch.net, Datadir: dir, Counters: ch.counters})
	if err != nil {
		t.Fatal(err)
	}
	ch.stop = run(t, ch.server)
	return ch
}

// client starts an irc-client tunnel on its own router of the fake I2P.
func (ch *chat) client(t *testing.T, name string, f config.IRCFilter) *Client {
	t.Helper()
	c, err := NewClient(Config{
		Tunnel: config.Tunnel{Name: name, Type: TypeClient, Listen: "127.0.0.1:0",
			Destination: ch.server.Address(), IRC: config.IRC{IRCFilter: f}},
		Network: ch.net.NewPeer(),
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, c)
	return c
}

// TestChatThroughBothTunnels is the whole path: two users register, join,
// talk, and the filter keeps CTCP VERSION and DCC from leaking.
func TestChatThroughBothTunnels(t *testing.T) {
	leaktest.Check(t)
	ch := newChat(t, nil)
	aliceTun, bobTun := ch.client(t, "alice-tun", config.IRCFilter{}), ch.client(t, "bob-tun", config.IRCFilter{})
	alice, bob := dialIRC(t, aliceTun.ListenAddr()), dialIRC(t, bobTun.ListenAddr())

	alice.send("NICK alice", "USER alice-login alice-laptop.lan irc.server :Alice Liddell")
	welcome := alice.expect(" 001 alice ")
	bob.send("NICK bob", "USER bob 0 * :Bob")
	bob.expect(" 001 bob ")

	// The server sees each user as their own b32, never the local host.
	if want := "@" + aliceTun.Address(); !strings.HasSuffix(welcome, want) {
		t.Errorf("welcome %q: alice's host is not her b32 %s", welcome, aliceTun.Address())
	}
	var users []string
	for _, l := range ch.ircd.received() {
		if strings.HasPrefix(l, "USER ") {
			users = append(users, l)
		}
	}
	want := []string{"USER user " + aliceTun.Address() + " * :user", "USER user " + bobTun.Address() + " * :user"}
	if !slices.Equal(users, want) {
		t.Errorf("server got USER lines\n%q\nwant\n%q", users, want)
	}

	alice.send("JOIN #i2p")
	alice.expect("JOIN #i2p")
	bob.send("JOIN #i2p")
	alice.expect(":bob!user@" + bobTun.Address() + " JOIN #i2p")
	alice.send("PRIVMSG #i2p :hello over i2p")
	if l := bob.expect("PRIVMSG #i2p"); !strings.HasSuffix(l, ":hello over i2p") {
		t.Errorf("bob got %q", l)
	}
	bob.send("PRIVMSG #i2p :\x01ACTION waves\x01")
	alice.expect("\x01ACTION waves\x01")

	// Bob's client asks for alice's version; her client never sees the
	// request, so it cannot answer with the real version. Were it to
	// answer anyway (some clients volunteer), the reply never leaves.
	bob.send("PRIVMSG alice :\x01VERSION\x01", "PRIVMSG alice :after-version")
	alice.expect("after-version")
	alice.send("NOTICE bob :\x01VERSION HexChat 2.16.1 / Linux 6.1\x01", "PRIVMSG bob :after-reply")
	bob.expect("after-reply")

	// DCC offers carry an IP address: they never reach the server.
	alice.send("PRIVMSG bob :\x01DCC SEND secret.txt 3232235777 5000 1234\x01", "NOTICE bob :DCC Send secret.txt (192.168.1.1)", "PRIVMSG bob :after-dcc")
	bob.expect("after-dcc")
	bob.send("PRIVMSG alice :\x01DCC CHAT chat 3232235778 5001\x01", "PRIVMSG alice :after-dcc-in")
	alice.expect("after-dcc-in")

	// PING keeps working through the filter's token swap.
	alice.send("PING :lag-1234")
	if l := alice.expect("PONG"); !strings.HasSuffix(l, "lag-1234") {
		t.Errorf("PONG %q does not carry the client's token back", l)
	}

	for _, l := range ch.ircd.received() {
		for _, leak := range []string{"VERSION", "DCC", "3232235777", "192.168", "HexChat", "alice-laptop", "Liddell", "alice-login", "lag-1234"} {
			if strings.Contains(l, leak) {
				t.Errorf("server received %q (contains %q)", l, leak)
			}
		}
	}
	for _, l := range alice.received() {
		if strings.Contains(l, "VERSION") || strings.Contains(l, "DCC") {
			t.Errorf("alice's client received %q", l)
		}
	}
	if ch.counters.TotalConns.Load() != 2 || ch.counters.AToB.Load() == 0 || ch.counters.BToA.Load() == 0 {
		t.Errorf("server counters: conns %d in %d out %d", ch.counters.TotalConns.Load(), ch.counters.AToB.Load(), ch.counters.BToA.Load())
	}
	alice.send("QUIT :Leaving: HexChat 2.16")
	if _, ok := <-drain(alice.lines); ok {
		t.Error("alice's connection still open after QUIT")
	}
	for _, l := range ch.ircd.received() {
		if strings.HasPrefix(l, "QUIT") && l != "QUIT" {
			t.Errorf("quit message leaked: %q", l)
		}
	}
}

// drain returns a channel that yields once lines is closed (ok=false), or
// a value if it stays open for 5 s.
func drain(lines <-chan string) <-chan bool {
	out := make(chan bool, 1)
	go func() {
		timeout := time.After(5 * time.Second)
		for {
			select {
			case _, ok := <-lines:
				if !ok {
					close(out)
					return
				}
			case <-timeout:
				out <- true
				return
			}
		}
	}()
	return out
}

func TestClientFilterSettingsApply(t *testing.T) {
	leaktest.Check(t)
	ch := newChat(t, nil)
	tun := ch.client(t, "c", config.IRCFilter{KeepUsername: true, Realname: "anon", ExtraOutbound: []string{"KNOCK"}, QuitMessage: "bye"})
	c := dialIRC(t, tun.ListenAddr())
	c.send("NICK n", "USER znc/net 0 * :Real Name")
	c.expect(" 001 n ")
	c.send("KNOCK #secret", "PING :mark")
	c.expect("mark")
	got := ch.ircd.received()
	for _, want := range []string{"USER znc/net " + tun.Address() + " * :anon", "KNOCK #secret"} {
		if !slices.Contains(got, want) {
			t.Errorf("server lines %q lack %q", got, want)
		}
	}
}

// TestOverlongLinesAreDropped: a line past the filter's limit is dropped
// without ending the connection, and the next line passes.
func TestOverlongLinesAreDropped(t *testing.T) {
	leaktest.Check(t)
	ch := newChat(t, nil)
	tun := ch.client(t, "c", config.IRCFilter{})
	c := dialIRC(t, tun.ListenAddr())
	c.send("NICK n", "USER u 0 * :r")
	c.expect(" 001 n ")
	c.send("PRIVMSG n :"+strings.Repeat("x", 20000), "PRIVMSG n :"+strings.Repeat("y", 600), "PING :short")
	c.expect("short")
	for _, l := range ch.ircd.received() {
		if strings.Contains(l, "xxxx") || strings.Contains(l, "yyyy") {
			t.Errorf("overlong line reached the server (%d bytes)", len(l))
		}
	}
}

// rawStream dials the irc-server tunnel directly from a fresh destination,
// as a non-filtering client would.
func (ch *chat) rawStream(t *testing.T) (*ircClient, i2pnet.Session) {
	t.Helper()
	s, err := ch.net.NewPeer().Open(context.Background(), i2pnet.SessionConfig{Name: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := s.Dial(context.Background(), ch.server.Address())
	if err != nil {
		t.Fatal(err)
	}
	return newIRCClient(t, c), s
}

var cloakRE = regexp.MustCompile(`^[a-z2-7]{16}\.i2p$`)

func TestServerIdentityModes(t *testing.T) {
	leaktest.Check(t)
	tests := []struct {
		name   string
		cloak  string
		webirc string
	}{
		{"b32 in USER", "", ""},
		{"cloak in USER", "0123456789abcdef-secret", ""},
		{"webirc with b32", "", "sesame"},
		{"webirc with cloak", "0123456789abcdef-secret", "sesame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := newChat(t, func(tun *config.Tunnel) { tun.CloakKey, tun.WebIRCPassword = tt.cloak, tt.webirc })
			var hosts []string
			c, s := ch.rawStream(t)
			for i := range 2 { // the same user twice: the same host
				if i == 1 {
					// A second stream of the same destination.
					cc, err := s.Dial(context.Background(), ch.server.Address())
					if err != nil {
						t.Fatal(err)
					}
					c = newIRCClient(t, cc)
				}
				c.send("WEBIRC sesame evil spoofed.example 10.0.0.1", fmt.Sprintf("NICK u%d", i), "USER u host.local srv :r")
				w := c.expect(" 001 ")
				hosts = append(hosts, w[strings.LastIndexByte(w, '@')+1:])
				me := s.Addr().Dest.Hash()
				host, ip := ch.server.Identity(me)
				switch {
				case tt.cloak == "" && host != me.B32():
					t.Errorf("host %q, want the b32 %s", host, me.B32())
				case tt.cloak != "" && (!cloakRE.MatchString(host) || strings.Contains(host, me.B32()[:16])):
					t.Errorf("cloak %q is not 16 base32 characters + .i2p unrelated to the b32", host)
				}
				if hosts[i] != host {
					t.Errorf("server shows host %q, want %q", hosts[i], host)
				}
				if !ip.Is6() || ip.As16()[0] != 0xfd {
					t.Errorf("fake ip %s is not in fd00::/8", ip)
				}
				lines := ch.ircd.received()
				var webirc []string
				for _, l := range lines {
					if strings.HasPrefix(l, "WEBIRC") {
						webirc = append(webirc, l)
					}
					if strings.Contains(l, "spoofed.example") || strings.Contains(l, "host.local") {
						t.Errorf("client-chosen host reached the server: %q", l)
					}
				}
				wantWebirc := 0
				if tt.webirc != "" {
					wantWebirc = i + 1
					if w := webirc[len(webirc)-1]; w != fmt.Sprintf("WEBIRC sesame %s %s %s", WebIRCGateway, host, ip) {
						t.Errorf("WEBIRC line %q", w)
					}
				}
				if len(webirc) != wantWebirc {
					t.Errorf("server got %d WEBIRC lines, want %d: %q", len(webirc), wantWebirc, webirc)
				}
			}
			if hosts[0] != hosts[1] {
				t.Errorf("one user got two hosts: %q", hosts)
			}
		})
	}
}

func TestServerRefusesOtherProtocols(t *testing.T) {
	leaktest.Check(t)
	ch := newChat(t, nil)
	c, _ := ch.rawStream(t)
	// One write: the server hangs up after the first line, so a second
	// write may meet a closed pipe, which is the point.
	io.WriteString(c.c, "GET / HTTP/1.1\r\nHost: x.i2p\r\n\r\n")
	if _, ok := <-drain(c.lines); ok {
		t.Fatal("HTTP request not refused")
	}
	waitFor(t, func() bool { return ch.server.Rejected()[string(NotIRC)] == 1 })
	for _, l := range ch.ircd.received() {
		t.Errorf("server received %q", l)
	}
}

func TestServerProtection(t *testing.T) {
	leaktest.Check(t)
	ch := newChat(t, func(tun *config.Tunnel) { tun.UniqueLocal = true; tun.MaxStreamsPerDest = 1 })
	c, s := ch.rawStream(t)
	c.send("NICK a", "USER a 0 * :r")
	c.expect(" 001 a ")
	// unique_local: the IRC server sees the caller's own loopback address.
	ch.ircd.mu.Lock()
	remote := ch.ircd.remotes[len(ch.ircd.remotes)-1]
	ch.ircd.mu.Unlock()
	host, _, _ := net.SplitHostPort(remote)
	if want := protect.LoopbackFor(s.Addr().Dest.Hash()).String(); host != want {
		t.Errorf("IRC server saw %s, want %s", host, want)
	}
	// A second stream of the same caller is over max_streams_per_dest.
	cc, err := s.Dial(context.Background(), ch.server.Address())
	if err != nil {
		t.Fatal(err)
	}
	second := newIRCClient(t, cc)
	if _, ok := <-drain(second.lines); ok {
		t.Error("second stream not refused")
	}
	waitFor(t, func() bool { return ch.server.Rejected()[string(protect.StreamsPerDest)] == 1 })
}

// TestServeEndsOpenConnections: stopping either tunnel closes the
// connections it carries, and nothing is left running.
func TestServeEndsOpenConnections(t *testing.T) {
	leaktest.Check(t)
	ch := newChat(t, nil)
	start := func() (*ircClient, func()) {
		tun, err := NewClient(Config{
			Tunnel:  config.Tunnel{Name: "c", Type: TypeClient, Listen: "127.0.0.1:0", Destination: ch.server.Address()},
			Network: ch.net.NewPeer(),
		})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, tun)
		c := dialIRC(t, tun.ListenAddr())
		c.send("NICK n", "USER u 0 * :r")
		c.expect(" 001 n ")
		return c, stop
	}
	c, stopClient := start()
	stopClient()
	if _, ok := <-drain(c.lines); ok {
		t.Error("client connection open after the irc-client stopped")
	}
	c, _ = start()
	ch.stop()
	if _, ok := <-drain(c.lines); ok {
		t.Error("client connection open after the irc-server stopped")
	}
}

func TestIdleTimeoutClosesConnections(t *testing.T) {
	leaktest.Check(t)
	ch := newChat(t, nil)
	tun, err := NewClient(Config{
		Tunnel: config.Tunnel{Name: "c", Type: TypeClient, Listen: "127.0.0.1:0", Destination: ch.server.Address(),
			IdleTimeout: config.Duration(300 * time.Millisecond)},
		Network: ch.net.NewPeer(),
	})
	if err != nil {
		t.Fatal(err)
	}
	run(t, tun)
	c := dialIRC(t, tun.ListenAddr())
	c.send("NICK n", "USER u 0 * :r")
	c.expect(" 001 n ")
	start := time.Now()
	if _, ok := <-drain(c.lines); ok {
		t.Fatal("idle connection not closed")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("closed after %v, want about 300ms", el)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	n := i2pnettest.New()
	defer n.Close()
	cli := config.Tunnel{Name: "c", Type: TypeClient, Listen: "127.0.0.1:0", Destination: "x.i2p"}
	srv := config.Tunnel{Name: "s", Type: TypeServer, Target: "127.0.0.1:6667"}
	clients := []func(*config.Tunnel){
		func(t *config.Tunnel) { t.Type = TypeServer },
		func(t *config.Tunnel) { t.Destination = "" },
		func(t *config.Tunnel) { t.Listen = "nope" },
		func(t *config.Tunnel) { t.IRCFilter.MaxLineLength = 10 },
		func(t *config.Tunnel) { t.IRCFilter.ExtraOutbound = []string{"A B"} },
	}
	for i, mut := range clients {
		tun := cli
		mut(&tun)
		if _, err := NewClient(Config{Tunnel: tun, Network: n}); !errors.Is(err, ErrConfig) {
			t.Errorf("client case %d: %v, want ErrConfig", i, err)
		}
	}
	servers := []func(*config.Tunnel){
		func(t *config.Tunnel) { t.Type = TypeClient },
		func(t *config.Tunnel) { t.Target = "x" },
		func(t *config.Tunnel) { t.WebIRCPassword = "a b" },
		func(t *config.Tunnel) { t.Allow = []string{"bad"} },
	}
	for i, mut := range servers {
		tun := srv
		mut(&tun)
		if _, err := NewServer(Config{Tunnel: tun, Network: n}); !errors.Is(err, ErrConfig) {
			t.Errorf("server case %d: %v, want ErrConfig", i, err)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRegistrationLine(t *testing.T) {
	const host = "h.b32.i2p"
	tests := []struct {
		in, out string
		user    bool
	}{
		{"NICK a\r\n", "NICK a", false},
		{"CAP LS 302\n", "CAP LS 302", false},
		{"USER u host srv :Real Name\r\n", "USER u h.b32.i2p srv :Real Name", true},
		{"user u 0 * r\r\n", "USER u h.b32.i2p * :r", true},
		{":nick!u@leak USER u leak.lan srv :r\r\n", "USER u h.b32.i2p srv :r", true},
		{"@label=x USER u leak srv :r\r\n", "@label=x USER u h.b32.i2p srv :r", true},
		{"USER u leak.lan\r\n", "", false},
		{"WEBIRC pw gw spoof 1.2.3.4\r\n", "", false},
		{"webirc pw gw spoof 1.2.3.4\r\n", "", false},
		{"\r\n", "", false},
		{"@\r\n", "", false},
	}
	for _, tt := range tests {
		out, user, _ := registrationLine([]byte(tt.in), host)
		if out != tt.out || user != tt.user {
			t.Errorf("registrationLine(%q) = %q, %v; want %q, %v", tt.in, out, user, tt.out, tt.user)
		}
	}
}
