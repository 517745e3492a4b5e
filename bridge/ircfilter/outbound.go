package ircfilter

import (
	"strconv"
	"strings"
)

// outboundPlain are the commands a client may send unchanged: their
// parameters are typed or chosen by the user (nick, channel, target, key,
// away text, services command) rather than filled in from the local system.
// PRIVMSG/NOTICE (CTCP), USER, PING, PONG, QUIT, PART and SETNAME have their
// own rules in outboundBody.
var outboundPlain = map[string]bool{
	// Registration, IRCv3 capability negotiation and SASL.
	"PASS": true, "NICK": true, "CAP": true, "AUTHENTICATE": true,
	// Channels and queries.
	"JOIN": true, "TOPIC": true, "MODE": true, "KICK": true, "INVITE": true,
	"NAMES": true, "LIST": true, "WHO": true, "WHOIS": true, "WHOWAS": true,
	"AWAY": true, "ISON": true, "USERHOST": true, "KNOCK": true,
	"TAGMSG": true, "BATCH": true, "MONITOR": true, "WATCH": true,
	"SILENCE": true, "ACCEPT": true, "CHATHISTORY": true, "MARKREAD": true,
	"REDACT": true, "REGISTER": true, "VERIFY": true,
	// Server queries; VERSION and TIME here ask the server, not a client.
	"MOTD": true, "LUSERS": true, "VERSION": true, "TIME": true,
	"ADMIN": true, "INFO": true, "LINKS": true, "MAP": true, "HELP": true,
	"HELPOP": true, "RULES": true,
	// Services aliases (Anope, Atheme, Ergo).
	"NICKSERV": true, "NS": true, "CHANSERV": true, "CS": true,
	"MEMOSERV": true, "MS": true, "HOSTSERV": true, "HS": true,
	"OPERSERV": true, "OS": true, "BOTSERV": true, "BS": true,
	"HELPSERV": true, "GROUPSERV": true, "HISTSERV": true,
}

// Outbound filters one line from the IRC client to the server. The line may
// end in CRLF or LF; Result.Line never does.
func (f *Filter) Outbound(text string) Result {
	l, reason := f.parseLine(text)
	if reason != "" {
		return Result{Verdict: Drop, Reason: reason}
	}
	var notes []string
	tags := ""
	if l.hasTags {
		kept, dropped := f.filterTags(l.tags)
		if len(dropped) > 0 {
			notes = append(notes, "stripped tags "+quoteList(dropped))
		}
		if len(kept) > MaxClientTagData {
			return Result{Verdict: Drop, Reason: "tag data too long"}
		}
		tags = kept
	}
	if l.source != "" {
		notes = append(notes, "removed source prefix")
	}
	body, note, drop := f.outboundBody(l)
	if drop != "" {
		return Result{Verdict: Drop, Reason: drop}
	}
	if note != "" {
		notes = append(notes, note)
	}
	out := assemble(tags != "", tags, "", body)
	if out == l.text {
		return Result{Verdict: Pass, Line: out}
	}
	if len(notes) == 0 {
		notes = append(notes, "normalized")
	}
	return Result{Verdict: Rewrite, Line: out, Reason: strings.Join(notes, "; ")}
}

// outboundBody applies the per-command rule. It returns the body to send and
// a note on what changed, or a drop reason.
func (f *Filter) outboundBody(l line) (body, note, drop string) {
	cmd, p := l.msg.Command, l.msg.Params
	switch cmd {
	case "PRIVMSG", "NOTICE":
		if r := f.ctcpDrop(l); r != "" {
			return "", "", r
		}
		// mIRC follows a DCC offer with "NOTICE nick :DCC Send file (ip)".
		if cmd == "NOTICE" && len(p) == 2 && len(p[1]) >= 4 && strings.EqualFold(p[1][:4], "DCC ") {
			return "", "", "plain-text DCC notice"
		}
		return l.body, "", ""
	case "USER":
		body, drop = f.userBody(p)
		return body, "replaced USER fields", drop
	case "PING":
		if len(p) == 0 {
			return "PING", "", ""
		}
		return "PING :" + f.substitutePing(p[0]), "replaced PING token", ""
	case "PONG":
		tok, ok := f.echoedToken(p)
		if !ok {
			return "", "", "PONG does not echo a server PING"
		}
		if len(p) == 1 {
			return l.body, "", ""
		}
		return "PONG :" + tok, "reduced PONG to the server's token", ""
	case "QUIT":
		body = "QUIT"
		if f.cfg.QuitMessage != "" {
			body += " :" + f.cfg.QuitMessage
		}
		return body, "replaced QUIT reason", ""
	case "PART":
		if len(p) == 0 {
			return "PART", "", ""
		}
		if !validMiddle(p[0]) {
			return "", "", "malformed PART"
		}
		body = "PART " + p[0]
		if f.cfg.PartMessage != "" {
			body += " :" + f.cfg.PartMessage
		}
		return withoutCTCP(cmd, body, "replaced PART reason")
	case "SETNAME":
		if !f.cfg.KeepRealname {
			return "", "", "SETNAME while the realname is replaced"
		}
		return withoutCTCP(cmd, l.body, "")
	}
	if outboundPlain[cmd] || f.extraOut[cmd] {
		return withoutCTCP(cmd, l.body, "")
	}
	return "", "", "command " + quote(cmd) + " not allowed"
}

// withoutCTCP refuses a CTCP marker in commands other than PRIVMSG/NOTICE:
// no legitimate use puts one there, and a server or client that relays the
// text might honour it.
func withoutCTCP(cmd, body, note string) (string, string, string) {
	if strings.IndexByte(body, ctcpMarker) >= 0 {
		return "", "", "CTCP marker in " + cmd
	}
	return body, note, ""
}

// userBody rewrites USER to "USER <username> 0 * :<realname>". The mode
// field is "0" (RFC 2812 mode bits, none requested) and the unused field
// "*", so the local host and server names the client put there never leave.
func (f *Filter) userBody(p []string) (body, drop string) {
	user := f.cfg.Username
	if f.cfg.KeepUsername {
		if len(p) == 0 || !validMiddle(p[0]) || strings.ContainsAny(p[0], "@!\x01") {
			return "", "USER without a usable username"
		}
		user = p[0]
	}
	real := f.cfg.Realname
	if f.cfg.KeepRealname && len(p) >= 4 && p[3] != "" {
		if strings.IndexByte(p[3], ctcpMarker) >= 0 {
			return "", "CTCP marker in USER"
		}
		real = p[3]
	}
	return "USER " + user + " 0 * :" + real, ""
}

// substitutePing remembers the client's PING token and returns the token to
// send instead: a per-connection counter, which says nothing about the
// client. Servers echo a PING's first parameter as the PONG's last one.
func (f *Filter) substitutePing(original string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pingSeq++
	sub := strconv.FormatUint(f.pingSeq, 10)
	f.pending[f.pendingNext] = pendingPing{substitute: sub, original: original}
	f.pendingNext = (f.pendingNext + 1) % pingSlots
	return sub
}

// echoedToken finds the parameter of a client PONG that echoes a recent
// server PING; clients differ in where they put it.
func (f *Filter) echoedToken(p []string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, param := range p {
		for _, tok := range f.serverTokens {
			if tok != "" && tok == param {
				return tok, true
			}
		}
	}
	return "", false
}

// quoteList quotes up to four names for a log reason.
func quoteList(names []string) string {
	const limit = 4
	q := make([]string, 0, limit+1)
	for i, n := range names {
		if i == limit {
			q = append(q, "…")
			break
		}
		q = append(q, quote(n))
	}
	return strings.Join(q, ", ")
}
