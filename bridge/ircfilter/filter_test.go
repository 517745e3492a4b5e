package ircfilter

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

type direction uint8

const (
	out direction = iota // client → server
	in                   // server → client
)

func (d direction) String() string {
	if d == out {
		return "out"
	}
	return "in"
}

// lineCase is one line through a fresh Filter: the input exactly as the
// peer sent it and the exact result.
type lineCase struct {
	name   string
	cfg    Config
	dir    direction
	in     string
	want   Verdict
	line   string // expected Result.Line ("" for Drop)
	reason string // substring of Result.Reason, when it matters
}

func runLineCases(t *testing.T, cases []lineCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.dir.String()+"/"+tc.name, func(t *testing.T) {
			f, err := New(tc.cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var got Result
			if tc.dir == out {
				got = f.Outbound(tc.in)
			} else {
				got = f.Inbound(tc.in)
			}
			if got.Verdict != tc.want || got.Line != tc.line {
				t.Fatalf("%s(%q)\n got  %v %q (%s)\n want %v %q", tc.dir, tc.in, got.Verdict, got.Line, got.Reason, tc.want, tc.line)
			}
			if (got.Verdict == Pass) != (got.Reason == "") {
				t.Errorf("verdict %v with reason %q", got.Verdict, got.Reason)
			}
			if !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("reason %q does not mention %q", got.Reason, tc.reason)
			}
		})
	}
}

// TestOutboundBlocksLeaks has one row per identifying thing a client sends
// by habit.
func TestOutboundBlocksLeaks(t *testing.T) {
	runLineCases(t, []lineCase{
		{name: "CTCP VERSION reply", in: "NOTICE bob :\x01VERSION HexChat 2.16.1 / Linux 6.8.0 [x86_64/2.40GHz/SMP]\x01", want: Drop, reason: `CTCP "VERSION"`},
		{name: "CTCP TIME reply", in: "NOTICE bob :\x01TIME Mon Mar  4 21:07:13 2024 CET\x01", want: Drop, reason: `CTCP "TIME"`},
		{name: "CTCP PING reply", in: "NOTICE bob :\x01PING 1709582833 123456\x01", want: Drop, reason: `CTCP "PING"`},
		{name: "CTCP USERINFO reply", in: "NOTICE bob :\x01USERINFO John Smith\x01", want: Drop, reason: `CTCP "USERINFO"`},
		{name: "CTCP CLIENTINFO reply", in: "NOTICE bob :\x01CLIENTINFO ACTION DCC CLIENTINFO PING SOURCE TIME VERSION\x01", want: Drop},
		{name: "CTCP FINGER reply", in: "NOTICE bob :\x01FINGER jsmith (John Smith) Idle 12 seconds\x01", want: Drop},
		{name: "CTCP SOURCE reply", in: "NOTICE bob :\x01SOURCE https://weechat.org/\x01", want: Drop},
		{name: "CTCP reply lower-case verb", in: "NOTICE bob :\x01version irssi v1.4.5\x01", want: Drop, reason: `"version"`},
		{name: "CTCP VERSION request", in: "PRIVMSG bob :\x01VERSION\x01", want: Drop},
		{name: "DCC SEND with IP", in: "PRIVMSG bob :\x01DCC SEND photo.jpg 3232235876 5000 48213\x01", want: Drop, reason: "DCC"},
		{name: "DCC CHAT with IP", in: "PRIVMSG bob :\x01DCC CHAT chat 192.168.1.100 5001\x01", want: Drop, reason: "DCC"},
		{name: "DCC via NOTICE", in: "NOTICE bob :\x01DCC SEND photo.jpg 3232235876 5000 48213\x01", want: Drop, reason: "DCC"},
		{name: "mIRC plain DCC notice", in: "NOTICE bob :DCC Send photo.jpg (192.168.1.100)", want: Drop, reason: "DCC notice"},
		{name: "CTCP after text", in: "PRIVMSG bob :hi \x01VERSION\x01", want: Drop, reason: "inside"},
		{name: "ACTION followed by a second CTCP", in: "PRIVMSG bob :\x01ACTION waves\x01\x01VERSION\x01", want: Drop, reason: "more than one"},
		{name: "CTCP marker in target", in: "PRIVMSG bob\x01 :hi", want: Drop, reason: "outside"},
		{name: "CTCP in AWAY", in: "AWAY :\x01VERSION mIRC v7.75\x01", want: Drop, reason: "CTCP marker in AWAY"},
		{name: "USER with real host name", in: "USER jsmith jsmith-laptop.fritz.box irc.postman.i2p :John Smith", want: Rewrite, line: "USER user 0 * :user", reason: "USER"},
		{name: "USER RFC 2812 form", in: "USER jsmith 8 * :John Smith", want: Rewrite, line: "USER user 0 * :user"},
		{name: "USER with LAN IP", in: "USER jsmith 192.168.1.23 127.0.0.1 :jsmith", want: Rewrite, line: "USER user 0 * :user"},
		{name: "USER too short", in: "USER jsmith", want: Rewrite, line: "USER user 0 * :user"},
		{name: "USER keep username", cfg: Config{KeepUsername: true}, in: "USER alice/postman jsmith-laptop * :John Smith", want: Rewrite, line: "USER alice/postman 0 * :user"},
		{name: "USER keep realname", cfg: Config{KeepRealname: true}, in: "USER jsmith jsmith-laptop * :Alice in I2P", want: Rewrite, line: "USER user 0 * :Alice in I2P"},
		{name: "USER configured names", cfg: Config{Username: "anon", Realname: "nobody here"}, in: "USER jsmith jsmith-laptop * :John Smith", want: Rewrite, line: "USER anon 0 * :nobody here"},
		{name: "USER keep username missing", cfg: Config{KeepUsername: true}, in: "USER", want: Drop, reason: "username"},
		{name: "QUIT with client advert", in: "QUIT :Leaving (HexChat 2.16.1 - https://hexchat.github.io)", want: Rewrite, line: "QUIT", reason: "QUIT"},
		{name: "QUIT with configured text", cfg: Config{QuitMessage: "leaving"}, in: "QUIT :irssi: The Client of the Future", want: Rewrite, line: "QUIT :leaving"},
		{name: "PART with client advert", in: "PART #i2p :WeeChat 4.1.2", want: Rewrite, line: "PART #i2p", reason: "PART"},
		{name: "PART with configured text", cfg: Config{PartMessage: "bye"}, in: "PART #i2p,#ergo :Konversation terminated!", want: Rewrite, line: "PART #i2p,#ergo :bye"},
		{name: "PING with local address", in: "PING 1709582833 192.168.1.23", want: Rewrite, line: "PING :1", reason: "PING"},
		{name: "PING with timestamp", in: "PING LAG1709582833123", want: Rewrite, line: "PING :1"},
		{name: "PING with local host name", in: "PING :jsmith-laptop.local", want: Rewrite, line: "PING :1"},
		{name: "PONG the server never asked for", in: "PONG :jsmith-laptop.local", want: Drop, reason: "PONG"},
		{name: "source prefix with local host", in: ":alice!jsmith@jsmith-laptop.lan PRIVMSG #i2p :hi", want: Rewrite, line: "PRIVMSG #i2p :hi", reason: "source"},
		{name: "vendor client-only tag", in: "@+hexchat.github.io/client=2.16.1;+typing=active TAGMSG #i2p", want: Rewrite, line: "@+typing=active TAGMSG #i2p", reason: `"+hexchat.github.io/client"`},
		{name: "time tag from client", in: "@time=2024-03-04T20:07:13.123Z;label=abc PRIVMSG #i2p :hi", want: Rewrite, line: "@label=abc PRIVMSG #i2p :hi", reason: `"time"`},
		{name: "only unknown tags", in: "@+example.com/tz=CET PRIVMSG #i2p :hi", want: Rewrite, line: "PRIVMSG #i2p :hi"},
		{name: "WEBIRC with local IP", in: "WEBIRC secret cgiirc jsmith-laptop 192.168.1.23", want: Drop, reason: `"WEBIRC"`},
		{name: "STARTTLS", in: "STARTTLS", want: Drop, reason: "not allowed"},
		{name: "OPER by default", in: "OPER admin secret", want: Drop},
		{name: "SETNAME while realname replaced", in: "SETNAME :John Smith", want: Drop, reason: "SETNAME"},
		{name: "ACTION with BlockAction", cfg: Config{BlockAction: true}, in: "PRIVMSG #i2p :\x01ACTION waves\x01", want: Drop, reason: "ACTION"},
	})
}

// TestOutboundPassesNormalTraffic shows what a well-behaved client sends
// going out byte for byte.
func TestOutboundPassesNormalTraffic(t *testing.T) {
	cases := []lineCase{
		{name: "chat", in: "PRIVMSG #i2p :hello, anyone here?"},
		{name: "query", in: "PRIVMSG bob :hi bob"},
		{name: "notice", in: "NOTICE bob :are you there?"},
		{name: "text mentioning DCC", in: "PRIVMSG #i2p :DCC SEND is blocked here"},
		{name: "ACTION", in: "PRIVMSG #i2p :\x01ACTION waves\x01"},
		{name: "ACTION without closing marker", in: "PRIVMSG #i2p :\x01ACTION waves"},
		{name: "empty ACTION", in: "PRIVMSG #i2p :\x01ACTION\x01"},
		{name: "CAP LS", in: "CAP LS 302"},
		{name: "CAP REQ sasl", in: "CAP REQ :sasl"},
		{name: "CAP REQ several", in: "CAP REQ :sasl message-tags server-time labeled-response"},
		{name: "AUTHENTICATE PLAIN", in: "AUTHENTICATE PLAIN"},
		{name: "AUTHENTICATE base64", in: "AUTHENTICATE YWxpY2UAYWxpY2UAc2VjcmV0cGFzc3dvcmQ="},
		{name: "AUTHENTICATE empty chunk", in: "AUTHENTICATE +"},
		{name: "CAP END", in: "CAP END"},
		{name: "PASS", in: "PASS :server password"},
		{name: "NICK", in: "NICK alice"},
		{name: "JOIN with key", in: "JOIN #i2p,#secret ,key"},
		{name: "TOPIC", in: "TOPIC #i2p :Welcome to I2P"},
		{name: "MODE", in: "MODE #i2p +b *!*@spam.b32.i2p"},
		{name: "KICK", in: "KICK #i2p spammer :bye"},
		{name: "WHOIS", in: "WHOIS bob"},
		{name: "WHO", in: "WHO #i2p %tcuhnfar,743"},
		{name: "AWAY", in: "AWAY :lunch"},
		{name: "MONITOR", in: "MONITOR + bob,carol"},
		{name: "CHATHISTORY", in: "CHATHISTORY LATEST #i2p * 50"},
		{name: "NickServ alias", in: "NICKSERV IDENTIFY alice secret"},
		{name: "NS alias", in: "NS IDENTIFY secret"},
		{name: "CS alias", in: "CS OP #i2p alice"},
		{name: "lower-case command", in: "privmsg #i2p :hi"},
		{name: "PART without reason", in: "PART #i2p"},
		{name: "bare QUIT", in: "QUIT"},
		{name: "bare PING", in: "PING"},
		{name: "USER already neutral", in: "USER user 0 * :user"},
		{name: "tags label and reply", in: "@label=123;+draft/reply=Vx3kQ PRIVMSG #i2p :agreed"},
		{name: "typing tag", in: "@+typing=active TAGMSG #i2p"},
		{name: "react tag", in: "@+draft/react=\U0001F44D;+draft/reply=Vx3kQ TAGMSG #i2p"},
		{name: "escaped tag value", in: `@label=a\sb\:c PRIVMSG #i2p :hi`},
		{name: "multiline batch", in: "@batch=ml1;draft/multiline-concat PRIVMSG #i2p :second half"},
		{name: "extra command", cfg: Config{ExtraOutbound: []string{"oper"}}, in: "OPER admin secret"},
		{name: "extra tag", cfg: Config{ExtraTags: []string{"+example.com/x"}}, in: "@+example.com/x=1 TAGMSG #i2p"},
		{name: "SETNAME with KeepRealname", cfg: Config{KeepRealname: true}, in: "SETNAME :Alice"},
	}
	for i := range cases {
		cases[i].dir, cases[i].want, cases[i].line = out, Pass, cases[i].in
	}
	runLineCases(t, cases)
}

// TestOutboundNormalizes covers rewrites that change form, not content.
func TestOutboundNormalizes(t *testing.T) {
	runLineCases(t, []lineCase{
		{name: "CRLF is stripped", in: "PRIVMSG #i2p :hi\r\n", want: Pass, line: "PRIVMSG #i2p :hi"},
		{name: "LF is stripped", in: "PRIVMSG #i2p :hi\n", want: Pass, line: "PRIVMSG #i2p :hi"},
		{name: "leading spaces", in: "   NICK alice", want: Rewrite, line: "NICK alice", reason: "normalized"},
		{name: "empty tag section", in: "@ NICK alice", want: Rewrite, line: "NICK alice"},
		{name: "empty tag items", in: "@label=1;; NICK alice", want: Rewrite, line: "@label=1 NICK alice"},
		{name: "bare PING with spaces", in: "PING  ", want: Rewrite, line: "PING"},
	})
}

// TestInbound has one row per request that would make the client answer
// with identifying data, and rows for what must reach the client as is.
func TestInbound(t *testing.T) {
	const bob = ":bob!~bob@bobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobbobb.b32.i2p "
	cases := []lineCase{
		{name: "CTCP VERSION request", in: bob + "PRIVMSG alice :\x01VERSION\x01", want: Drop, reason: `CTCP "VERSION"`},
		{name: "CTCP TIME request", in: bob + "PRIVMSG alice :\x01TIME\x01", want: Drop},
		{name: "CTCP PING request", in: bob + "PRIVMSG alice :\x01PING 1709582833\x01", want: Drop},
		{name: "CTCP CLIENTINFO request", in: bob + "PRIVMSG alice :\x01CLIENTINFO\x01", want: Drop},
		{name: "CTCP USERINFO request", in: bob + "PRIVMSG alice :\x01USERINFO\x01", want: Drop},
		{name: "CTCP FINGER request", in: bob + "PRIVMSG alice :\x01FINGER\x01", want: Drop},
		{name: "CTCP SOURCE request", in: bob + "PRIVMSG alice :\x01SOURCE\x01", want: Drop},
		{name: "CTCP request to channel", in: bob + "PRIVMSG #i2p :\x01VERSION\x01", want: Drop},
		{name: "DCC SEND offer", in: bob + "PRIVMSG alice :\x01DCC SEND x.zip 3232235876 5000 1024\x01", want: Drop, reason: "DCC"},
		{name: "XDCC", in: bob + "PRIVMSG alice :\x01XDCC LIST\x01", want: Drop},
		{name: "CTCP reply", in: bob + "NOTICE alice :\x01VERSION mIRC v7.75\x01", want: Drop},
		{name: "embedded CTCP", in: bob + "PRIVMSG alice :look \x01VERSION\x01", want: Drop},
		{name: "unknown command", in: ":irc.postman.i2p ENCAP * SNOTE :x", want: Drop, reason: `"ENCAP"`},
		{name: "ACTION with BlockAction", cfg: Config{BlockAction: true}, in: bob + "PRIVMSG #i2p :\x01ACTION waves\x01", want: Drop},
		{name: "PONG for no PING of ours", in: ":irc.postman.i2p PONG irc.postman.i2p :12345", want: Pass, line: ":irc.postman.i2p PONG irc.postman.i2p :12345"},
		{name: "CRLF is stripped", in: bob + "PRIVMSG #i2p :hi\r\n", want: Pass, line: bob + "PRIVMSG #i2p :hi"},
	}
	for _, s := range []string{
		bob + "PRIVMSG #i2p :hello alice",
		bob + "PRIVMSG #i2p :\x01ACTION waves\x01",
		bob + "NOTICE alice :ping me later",
		"@time=2024-03-04T20:07:13.123Z;msgid=Vx3kQ;+draft/reply=abc " + bob + "PRIVMSG #i2p :tagged",
		"@+typing=active " + bob + "TAGMSG #i2p",
		"@batch=hist1 " + bob + "PRIVMSG #i2p :from history",
		":irc.postman.i2p BATCH +hist1 chathistory #i2p",
		":irc.postman.i2p 001 alice :Welcome to the IRC2P network",
		":irc.postman.i2p 353 alice = #i2p :alice @bob",
		":irc.postman.i2p 904 alice :SASL authentication failed",
		":irc.postman.i2p CAP * LS :sasl message-tags server-time",
		":irc.postman.i2p CAP alice ACK :sasl",
		"AUTHENTICATE +",
		"PING :irc.postman.i2p",
		bob + "JOIN #i2p",
		bob + "PART #i2p :bye",
		bob + "QUIT :Quit: leaving",
		bob + "NICK bob2",
		bob + "MODE #i2p +o alice",
		bob + "TOPIC #i2p :new topic",
		bob + "KICK #i2p alice :out",
		bob + "INVITE alice #secret",
		bob + "ACCOUNT bob",
		bob + "AWAY :gone",
		bob + "CHGHOST ~bob new.b32.i2p",
		bob + "SETNAME :Bob",
		":irc.postman.i2p FAIL CHATHISTORY INVALID_TARGET #x :no",
		":irc.postman.i2p WARN REHASH CERTS_EXPIRED :soon",
		":irc.postman.i2p NOTE * OPER_MESSAGE :hi",
		":irc.postman.i2p WALLOPS :maintenance",
		"ERROR :Closing Link: alice (Quit: leaving)",
	} {
		cases = append(cases, lineCase{name: s, in: s, want: Pass, line: s})
	}
	cases = append(cases, lineCase{name: "extra inbound command", cfg: Config{ExtraInbound: []string{"ENCAP"}}, in: ":irc.postman.i2p ENCAP * SNOTE :x", want: Pass, line: ":irc.postman.i2p ENCAP * SNOTE :x"})
	for i := range cases {
		cases[i].dir = in
	}
	runLineCases(t, cases)
}

// TestMalformedLinesAreDropped covers both directions with lines no IRC
// peer should send.
func TestMalformedLinesAreDropped(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	base := []lineCase{
		{name: "empty", in: "", reason: "empty"},
		{name: "CRLF only", in: "\r\n", reason: "empty"},
		{name: "tags only", in: "@label=1", reason: "tags without a command"},
		{name: "tags and space only", in: "@label=1 ", reason: "malformed"},
		{name: "source only", in: ":bob!b@h", reason: "malformed"},
		{name: "source and space only", in: ":bob!b@h ", reason: "malformed"},
		{name: "NUL inside", in: "PRIVMSG #i2p :a\x00b", reason: "malformed"},
		{name: "CR inside", in: "PRIVMSG #i2p :a\rQUIT", reason: "malformed"},
		{name: "LF inside", in: "PRIVMSG #i2p :a\nQUIT", reason: "malformed"},
		{name: "two line endings", in: "PART\n\r\n", reason: "malformed"},
		{name: "non-ASCII command", in: "PRIVMSGé #i2p :a", reason: "malformed"},
		{name: "invalid UTF-8 tag value", in: "@label=\xff NICK alice", reason: "malformed"},
		{name: "body over 512 with CRLF", in: "PRIVMSG #i2p :" + long(511-len("PRIVMSG #i2p :")), reason: "too long"},
		{name: "tag section over 8191", in: "@label=" + long(MaxTagSection-len("@label= ")+1) + " NICK alice", reason: "tag section too long"},
	}
	var cases []lineCase
	for _, d := range []direction{out, in} {
		for _, tc := range base {
			tc.dir, tc.want = d, Drop
			cases = append(cases, tc)
		}
	}
	cases = append(cases,
		lineCase{name: "client tag data over 4094", dir: out, in: "@label=" + long(MaxClientTagData) + " NICK alice", want: Drop, reason: "tag data too long"},
		lineCase{name: "raised body limit", dir: out, cfg: Config{MaxBodyLen: 1024}, in: "PRIVMSG #i2p :" + long(600), want: Pass, line: "PRIVMSG #i2p :" + long(600)},
	)
	runLineCases(t, cases)
}

// TestLengthLimitsAreInclusive pins the exact boundaries.
func TestLengthLimitsAreInclusive(t *testing.T) {
	bodyMax := "PRIVMSG #i2p :" + strings.Repeat("a", DefaultMaxBodyLen-2-len("PRIVMSG #i2p :"))
	tagsMax := "@label=" + strings.Repeat("a", MaxTagSection-len("@label= ")) + " PRIVMSG #i2p :hi"
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{bodyMax, tagsMax} {
		if r := f.Inbound(s); r.Verdict != Pass {
			t.Errorf("Inbound of a %d-byte line: %v (%s)", len(s), r.Verdict, r.Reason)
		}
	}
	if r := f.Outbound(bodyMax + "\r\n"); r.Verdict != Pass {
		t.Errorf("Outbound of a maximal body: %v (%s)", r.Verdict, r.Reason)
	}
	if got, want := f.MaxLineLen(), len(tagsMax)+2; got < want {
		t.Errorf("MaxLineLen %d < longest passing line %d", got, want)
	}
}

// TestPingTokenIsRestoredInPong follows a client PING through the server's
// PONG: the server sees only the substitute, the client gets its own token.
func TestPingTokenIsRestoredInPong(t *testing.T) {
	steps := []struct {
		dir  direction
		in   string
		want Verdict
		line string
	}{
		{out, "PING LAG1709582833123", Rewrite, "PING :1"},
		{out, "PING 1709582833 192.168.1.23", Rewrite, "PING :2"},
		{in, ":irc.postman.i2p PONG irc.postman.i2p :1", Rewrite, ":irc.postman.i2p PONG irc.postman.i2p :LAG1709582833123"},
		{in, ":irc.postman.i2p PONG irc.postman.i2p :1", Pass, ":irc.postman.i2p PONG irc.postman.i2p :1"},
		{in, "@label=x :irc.postman.i2p PONG irc.postman.i2p 2", Rewrite, "@label=x :irc.postman.i2p PONG irc.postman.i2p :1709582833"},
		{in, "PONG :3", Pass, "PONG :3"},
	}
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range steps {
		var r Result
		if s.dir == out {
			r = f.Outbound(s.in)
		} else {
			r = f.Inbound(s.in)
		}
		if r.Verdict != s.want || r.Line != s.line {
			t.Fatalf("step %d %s(%q) = %v %q, want %v %q", i, s.dir, s.in, r.Verdict, r.Line, s.want, s.line)
		}
	}
}

// TestPingMemoryIsBounded checks that only the newest pingSlots PINGs are
// remembered.
func TestPingMemoryIsBounded(t *testing.T) {
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= pingSlots+1; i++ {
		f.Outbound(fmt.Sprintf("PING tok%d", i))
	}
	if r := f.Inbound("PONG srv :1"); r.Verdict != Pass {
		t.Errorf("evicted PING restored: %v %q", r.Verdict, r.Line)
	}
	want := fmt.Sprintf("PONG srv :tok%d", pingSlots+1)
	if r := f.Inbound(fmt.Sprintf("PONG srv :%d", pingSlots+1)); r.Line != want {
		t.Errorf("newest PING: got %q, want %q", r.Line, want)
	}
}

// TestPongMayOnlyEchoServerTokens checks that client PONGs carry nothing the
// server did not send.
func TestPongMayOnlyEchoServerTokens(t *testing.T) {
	steps := []struct {
		dir  direction
		in   string
		want Verdict
		line string
	}{
		{out, "PONG :cookie", Drop, ""},
		{in, "PING :A1B2C3D4", Pass, "PING :A1B2C3D4"},
		{out, "PONG :A1B2C3D4", Pass, "PONG :A1B2C3D4"},
		{out, "PONG A1B2C3D4", Pass, "PONG A1B2C3D4"},
		{out, "PONG jsmith-laptop.lan :A1B2C3D4", Rewrite, "PONG :A1B2C3D4"},
		{out, "PONG A1B2C3D4 192.168.1.23", Rewrite, "PONG :A1B2C3D4"},
		{out, "PONG :jsmith-laptop.lan", Drop, ""},
		{in, ":irc.postman.i2p PING :irc.postman.i2p", Pass, ":irc.postman.i2p PING :irc.postman.i2p"},
		{out, "@label=p PONG :irc.postman.i2p", Pass, "@label=p PONG :irc.postman.i2p"},
		{in, "PING :with space", Pass, "PING :with space"},
		{out, "PONG :with space", Pass, "PONG :with space"},
	}
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range steps {
		var r Result
		if s.dir == out {
			r = f.Outbound(s.in)
		} else {
			r = f.Inbound(s.in)
		}
		if r.Verdict != s.want || r.Line != s.line {
			t.Fatalf("step %d %s(%q) = %v %q (%s), want %v %q", i, s.dir, s.in, r.Verdict, r.Line, r.Reason, s.want, s.line)
		}
	}
}

// TestDirectionsRunConcurrently drives both directions from two goroutines,
// as the tunnel does; run with -race to check the locking.
func TestDirectionsRunConcurrently(t *testing.T) {
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	subs := make(chan string) // unbuffered: PINGs stay within the remembered window
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(subs)
		for i := range n {
			r := f.Outbound(fmt.Sprintf("PING LAG%d", i))
			subs <- strings.TrimPrefix(r.Line, "PING :")
			f.Outbound("PRIVMSG #i2p :hi")
		}
	})
	restored := 0
	wg.Go(func() {
		for sub := range subs {
			f.Inbound("PING :srv")
			if r := f.Inbound("PONG srv :" + sub); r.Verdict == Rewrite {
				restored++
			}
		}
	})
	wg.Wait()
	if restored != n {
		t.Errorf("restored %d of %d PONGs", restored, n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"body limit below 512", Config{MaxBodyLen: 100}},
		{"body limit huge", Config{MaxBodyLen: 1 << 20}},
		{"username with space", Config{Username: "a b"}},
		{"username with @", Config{Username: "a@b"}},
		{"username starting with colon", Config{Username: ":a"}},
		{"realname with CR", Config{Realname: "a\rQUIT"}},
		{"quit message with LF", Config{QuitMessage: "bye\nQUIT"}},
		{"part message with CTCP", Config{PartMessage: "\x01VERSION\x01"}},
		{"quit message too long", Config{QuitMessage: strings.Repeat("a", 301)}},
		{"extra command with space", Config{ExtraOutbound: []string{"OPER X"}}},
		{"empty extra inbound", Config{ExtraInbound: []string{""}}},
		{"bad tag name", Config{ExtraTags: []string{"+a=b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Pass: "pass", Rewrite: "rewrite", Drop: "drop", 9: "Verdict(9)"} {
		if got := v.String(); got != want {
			t.Errorf("%d: %q, want %q", v, got, want)
		}
	}
}

// TestReasonsDoNotCarryParameters checks that a drop reason, which the
// tunnel logs, does not repeat message text or addresses.
func TestReasonsDoNotCarryParameters(t *testing.T) {
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"NOTICE bob :\x01VERSION HexChat 2.16.1 192.168.1.23\x01",
		"PRIVMSG bob :\x01DCC SEND x 192.168.1.23 5000\x01",
		"WEBIRC secret cgiirc host 192.168.1.23",
		"PONG 192.168.1.23",
		"@+x/ip=192.168.1.23 PRIVMSG #a :192.168.1.23",
	} {
		if r := f.Outbound(s); strings.Contains(r.Reason, "192.168") {
			t.Errorf("reason for %q leaks the address: %q", s, r.Reason)
		}
	}
	if r := f.Outbound("\x01" + strings.Repeat("X", 400)); len(r.Reason) > 100 {
		t.Errorf("reason not bounded: %d bytes", len(r.Reason))
	}
}
