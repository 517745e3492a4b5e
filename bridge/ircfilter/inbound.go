package ircfilter

import "strings"

// inboundPlain are the server messages passed to the client unchanged
// besides numerics, PING, PONG, PRIVMSG and NOTICE, which have their own
// rules in Inbound. They cover RFC 1459/2812 and the IRCv3 extensions a
// client can negotiate (account-notify, away-notify, chghost, setname,
// batch, message-tags, standard-replies, labeled-response, read-marker,
// message-redaction, channel-rename, account-registration).
var inboundPlain = map[string]bool{
	"JOIN": true, "PART": true, "QUIT": true, "NICK": true, "MODE": true,
	"TOPIC": true, "KICK": true, "INVITE": true, "KILL": true,
	"ERROR": true, "WALLOPS": true, "SILENCE": true,
	"CAP": true, "AUTHENTICATE": true, "ACCOUNT": true, "AWAY": true,
	"CHGHOST": true, "SETNAME": true, "BATCH": true, "TAGMSG": true,
	"FAIL": true, "WARN": true, "NOTE": true, "ACK": true,
	"MARKREAD": true, "REDACT": true, "RENAME": true,
	"REGISTER": true, "VERIFY": true,
}

// Inbound filters one line from the server to the IRC client. The line may
// end in CRLF or LF; Result.Line never does. Nothing the server sends can
// reveal the client, so the filter only drops what would make the client
// answer with identifying data, and forwards the rest byte for byte.
func (f *Filter) Inbound(text string) Result {
	l, reason := f.parseLine(text)
	if reason != "" {
		return Result{Verdict: Drop, Reason: reason}
	}
	pass := Result{Verdict: Pass, Line: l.text}
	cmd, p := l.msg.Command, l.msg.Params
	switch {
	case isNumeric(cmd):
		return pass
	case cmd == "PING":
		f.rememberServerPing(p)
		return pass
	case cmd == "PONG":
		if len(p) == 0 {
			return pass
		}
		original, ok := f.restorePing(p[len(p)-1])
		if !ok {
			return pass
		}
		body := "PONG"
		for _, m := range p[:len(p)-1] {
			body += " " + m
		}
		body += " :" + original
		return Result{
			Verdict: Rewrite,
			Line:    assemble(l.hasTags, l.tags, l.source, body),
			Reason:  "restored the client's PING token",
		}
	case cmd == "PRIVMSG" || cmd == "NOTICE":
		if r := f.ctcpDrop(l); r != "" {
			return Result{Verdict: Drop, Reason: r}
		}
		return pass
	case inboundPlain[cmd] || f.extraIn[cmd]:
		return pass
	}
	return Result{Verdict: Drop, Reason: "command " + quote(cmd) + " not allowed"}
}

// rememberServerPing records the payload of a server PING, the only thing
// a client PONG may carry back.
func (f *Filter) rememberServerPing(p []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tok := range p {
		if tok == "" || strings.IndexByte(tok, ctcpMarker) >= 0 {
			continue
		}
		f.serverTokens[f.tokensNext] = tok
		f.tokensNext = (f.tokensNext + 1) % pingSlots
	}
}

// restorePing returns the client's token for a substitute the filter sent,
// forgetting it, since each PING is answered once.
func (f *Filter) restorePing(tok string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, pp := range f.pending {
		if pp.substitute != "" && pp.substitute == tok {
			f.pending[i] = pendingPing{}
			return pp.original, true
		}
	}
	return "", false
}
