package ircfilter

import (
	"strings"
	"testing"

	"github.com/ergochat/irc-go/ircmsg"
)

// FuzzFilter checks, for any line in either direction, that the filter does
// not panic and that what it lets out keeps the promises of the package doc:
// outbound lines parse, use an allowed command, carry no source, only
// allowlisted tags and no CTCP but ACTION; filtering a filtered line again
// changes nothing; a Pass forwards the input unchanged.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"PRIVMSG #i2p :hello",
		"PRIVMSG #i2p :\x01ACTION waves\x01",
		"NOTICE bob :\x01VERSION HexChat 2.16.1\x01",
		"PRIVMSG bob :\x01DCC SEND x 3232235876 5000 1\x01",
		"USER jsmith jsmith-laptop irc.example :John Smith",
		"QUIT :Leaving (HexChat)",
		"PART #i2p :bye",
		"PING 1709582833 192.168.1.23",
		"PONG :irc.postman.i2p",
		"@label=1;+typing=active;+vendor/x=1 TAGMSG #i2p",
		":alice!jsmith@host PRIVMSG #i2p :hi",
		":srv 001 alice :Welcome",
		":srv PONG srv :1",
		"@",
		"@ ",
		":",
		"\x01",
		"CAP REQ :sasl",
		"AUTHENTICATE +",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		stripped := strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
		for _, d := range []direction{out, in} {
			var r Result
			if d == out {
				r = flt.Outbound(s)
			} else {
				r = flt.Inbound(s)
			}
			checkResult(t, d, stripped, r)
			if d == out && r.Verdict != Drop {
				checkOutboundLine(t, r.Line)
			}
		}
	})
}

func checkResult(t *testing.T, d direction, stripped string, r Result) {
	t.Helper()
	switch r.Verdict {
	case Drop:
		if r.Line != "" || r.Reason == "" {
			t.Fatalf("%s drop with line %q reason %q", d, r.Line, r.Reason)
		}
	case Pass:
		if r.Line != stripped || r.Reason != "" {
			t.Fatalf("%s pass changed %q to %q (reason %q)", d, stripped, r.Line, r.Reason)
		}
	case Rewrite:
		if r.Line == stripped || r.Reason == "" {
			t.Fatalf("%s rewrite of %q to %q with reason %q", d, stripped, r.Line, r.Reason)
		}
	default:
		t.Fatalf("%s verdict %v", d, r.Verdict)
	}
	if strings.ContainsAny(r.Line, "\x00\r\n") {
		t.Fatalf("%s output %q contains NUL, CR or LF", d, r.Line)
	}
}

func checkOutboundLine(t *testing.T, line string) {
	t.Helper()
	msg, err := ircmsg.ParseLine(line)
	if err != nil {
		t.Fatalf("output %q does not parse: %v", line, err)
	}
	special := map[string]bool{"PRIVMSG": true, "NOTICE": true, "USER": true, "PING": true, "PONG": true, "QUIT": true, "PART": true}
	if !special[msg.Command] && !outboundPlain[msg.Command] {
		t.Fatalf("output %q uses command %q", line, msg.Command)
	}
	if msg.Source != "" {
		t.Fatalf("output %q has a source", line)
	}
	for name := range msg.AllTags() {
		if !clientTags[name] {
			t.Fatalf("output %q carries tag %q", line, name)
		}
	}
	if i := strings.IndexByte(line, ctcpMarker); i >= 0 {
		if msg.Command != "PRIVMSG" && msg.Command != "NOTICE" || len(msg.Params) != 2 ||
			!strings.HasPrefix(strings.ToUpper(msg.Params[1]), "\x01ACTION") {
			t.Fatalf("output %q carries CTCP other than ACTION", line)
		}
	}
	if msg.Command == "USER" && !strings.HasSuffix(line, "USER "+DefaultUsername+" 0 * :"+DefaultRealname) {
		t.Fatalf("USER output %q", line)
	}
	if msg.Command == "PING" || msg.Command == "PONG" {
		return // their tokens depend on filter state, checked in table tests
	}
	// A filtered line is a fixed point.
	again, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if r := again.Outbound(line); r.Verdict != Pass {
		t.Fatalf("refiltering %q: %v %q (%s)", line, r.Verdict, r.Line, r.Reason)
	}
}
