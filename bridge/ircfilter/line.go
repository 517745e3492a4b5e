package ircfilter

import (
	"fmt"
	"strings"

	"github.com/ergochat/irc-go/ircmsg"
)

// ctcpMarker delimits CTCP messages inside PRIVMSG/NOTICE text.
const ctcpMarker = '\x01'

// line is one received line, parsed and cut into its wire sections.
// Both views are kept: msg for decisions, raw for forwarding, so a line
// that passes is forwarded exactly as received (tag order and escaping,
// trailing-colon style) instead of as ircmsg would re-serialize it.
type line struct {
	text    string         // the line without CRLF
	msg     ircmsg.Message // parsed by ircmsg
	hasTags bool           // text starts with '@'
	tags    string         // tag data between '@' and the first space
	source  string         // source prefix without ':'
	body    string         // command and parameters as received
}

// parseLine checks the limits, parses the line and cuts it into sections.
// On failure it returns the drop reason.
func (f *Filter) parseLine(text string) (line, string) {
	// ircmsg strips one LF and then one CR; do the same so limits are
	// measured on what is forwarded.
	text = strings.TrimSuffix(strings.TrimSuffix(text, "\n"), "\r")
	l := line{text: text}
	if text == "" {
		return l, "empty line"
	}
	// Checked here, not left to ircmsg: ParseLine strips line endings once
	// more, so "PART\n\r\n" would parse while its text still holds a LF.
	if strings.ContainsAny(text, "\x00\r\n") {
		return l, "malformed line: NUL, CR or LF inside"
	}
	rest := text
	if text[0] == '@' {
		end := strings.IndexByte(text, ' ')
		if end < 0 {
			return l, "tags without a command"
		}
		if end+1 > MaxTagSection {
			return l, "tag section too long"
		}
		l.hasTags, l.tags, rest = true, text[1:end], text[end+1:]
	}
	if len(rest)+2 > f.cfg.MaxBodyLen {
		return l, "line too long"
	}
	msg, err := ircmsg.ParseLine(text)
	if err != nil {
		return l, "malformed line: " + strings.ToLower(err.Error())
	}
	l.msg = msg
	// Mirror ircmsg's own cutting: spaces may precede the source and the
	// command, a source ends at the first space.
	rest = strings.TrimLeft(rest, " ")
	if strings.HasPrefix(rest, ":") {
		end := strings.IndexByte(rest, ' ')
		l.source, rest = rest[1:end], rest[end+1:] // ParseLine succeeded, so a space follows
	}
	l.body = strings.TrimLeft(rest, " ")
	return l, ""
}

// clientTags are the tags a client may send. label and batch are read by
// the server only (labeled-response, client batches), draft/multiline-concat
// is part of multiline batches, and the client-only ones are the IRCv3
// specified +typing, reply, react and channel-context, whose values are
// message ids, channel names or emoji chosen by the user.
var clientTags = map[string]bool{
	"label":                  true,
	"batch":                  true,
	"draft/multiline-concat": true,
	"+typing":                true,
	"+draft/typing":          true,
	"+reply":                 true,
	"+draft/reply":           true,
	"+react":                 true,
	"+draft/react":           true,
	"+draft/unreact":         true,
	"+channel-context":       true,
	"+draft/channel-context": true,
}

// filterTags keeps the allowed items of raw tag data, unchanged and in
// order, and returns the names of the dropped ones.
func (f *Filter) filterTags(tags string) (kept string, dropped []string) {
	var b strings.Builder
	for item := range strings.SplitSeq(tags, ";") {
		if item == "" {
			continue
		}
		name, _, _ := strings.Cut(item, "=")
		if !clientTags[name] && !f.extraTags[name] {
			dropped = append(dropped, name)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(item)
	}
	return b.String(), dropped
}

// assemble builds a line from its sections.
func assemble(hasTags bool, tags, source, body string) string {
	var b strings.Builder
	b.Grow(len(tags) + len(source) + len(body) + 3)
	if hasTags {
		b.WriteByte('@')
		b.WriteString(tags)
		b.WriteByte(' ')
	}
	if source != "" {
		b.WriteByte(':')
		b.WriteString(source)
		b.WriteByte(' ')
	}
	b.WriteString(body)
	return b.String()
}

// ctcpDrop decides a PRIVMSG or NOTICE. It returns "" to let the line pass
// and the drop reason otherwise. Only a single CTCP ACTION spanning the whole
// text passes: old clients honour markers anywhere in the text, so any other
// marker is treated as CTCP too, as Java's IRCFilter does.
func (f *Filter) ctcpDrop(l line) string {
	if strings.IndexByte(l.body, ctcpMarker) < 0 {
		return ""
	}
	p := l.msg.Params
	if len(p) != 2 || strings.IndexByte(p[0], ctcpMarker) >= 0 {
		return "CTCP marker outside the message text"
	}
	text := p[1]
	if text == "" || text[0] != ctcpMarker {
		return "CTCP marker inside the message text"
	}
	inner := text[1:]
	if end := strings.IndexByte(inner, ctcpMarker); end >= 0 {
		if end != len(inner)-1 {
			return "more than one CTCP message"
		}
		inner = inner[:end]
	}
	verb, _, _ := strings.Cut(inner, " ")
	switch strings.ToUpper(verb) {
	case "ACTION":
		if f.cfg.BlockAction {
			return "CTCP ACTION blocked by config"
		}
		return ""
	case "DCC":
		return "DCC"
	}
	return "CTCP " + quote(verb)
}

// quote renders a wire token for a log reason: quoted, so control bytes
// cannot forge log lines, and cut, so a hostile token cannot flood logs.
func quote(s string) string {
	const limit = 32
	if len(s) > limit {
		return fmt.Sprintf("%q…", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}

// isNumeric reports whether cmd is a three-digit numeric reply.
func isNumeric(cmd string) bool {
	return len(cmd) == 3 && isDigit(cmd[0]) && isDigit(cmd[1]) && isDigit(cmd[2])
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
