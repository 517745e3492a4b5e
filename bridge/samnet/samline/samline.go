// Package samline is the line grammar of SAMv3 (i2p.www
// pages/site/docs/api/samv3.html, "Encoding and Escaping"): parsing and
// formatting of one command or reply line, with no I/O. The client in
// bridge/samnet and the fake bridge in bridge/samnet/samtest share it, so
// both sides agree on quoting.
//
// A line is
//
//	VERB [SUB] [KEY[=VALUE]]... \n      e.g. HELLO REPLY RESULT=OK VERSION=3.1
//	PING[ text] / PONG[ text]           (SAM 3.2)
//
// Words are separated by one or more spaces. A VALUE may be enclosed in
// double quotes, inside which \" and \\ are escapes (SAM 3.2). Routers
// before 3.2 (i2pd up to at least 2.45) split parameters on every space and
// never unquote, so Format refuses values that would need quotes unless the
// caller says the peer understands them.
package samline

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by Parse and Format.
var (
	// ErrSyntax reports a line that is not SAM grammar (empty, an
	// unterminated quote, an empty key).
	ErrSyntax = errors.New("samline: syntax error")
	// ErrNeedsQuoting reports a value that contains a space, a quote or a
	// backslash, which only SAM 3.2+ peers can carry (quoted).
	ErrNeedsQuoting = errors.New("samline: value needs quoting, which SAM before 3.2 does not support")
	// ErrInvalid reports a key or value that can never be sent: a line
	// break, or a key with a space, quote or '='.
	ErrInvalid = errors.New("samline: invalid key or value")
)

// Arg is one KEY=VALUE parameter. A bare KEY (allowed by SAM 3.2) has an
// empty Value.
type Arg struct {
	Key, Value string
}

// Message is one SAM line.
type Message struct {
	// Verb is the first word: "HELLO", "SESSION", "STREAM", "NAMING",
	// "DEST", "PING", "PONG"... For the line a bridge writes on an
	// accepted stream it is the peer's base64 Destination.
	Verb string
	// Sub is the second word when it is not a KEY=VALUE ("REPLY",
	// "STATUS", "CREATE"...); "" otherwise.
	Sub string
	// Args are the parameters in line order.
	Args []Arg
	// Text is what follows "PING " or "PONG " verbatim; "" for other verbs.
	Text string
}

// Get returns the value of key. When a key repeats the last one wins, as
// in i2pd's and Java I2P's parameter maps.
func (m Message) Get(key string) (string, bool) {
	for i := len(m.Args) - 1; i >= 0; i-- {
		if m.Args[i].Key == key {
			return m.Args[i].Value, true
		}
	}
	return "", false
}

// Value returns the value of key, or "" when it is absent.
func (m Message) Value(key string) string {
	v, _ := m.Get(key)
	return v
}

// Is reports whether the line starts with verb and sub.
func (m Message) Is(verb, sub string) bool { return m.Verb == verb && m.Sub == sub }

// String formats m for logs; values needing quotes are quoted.
func (m Message) String() string {
	b, err := m.Append(nil, true)
	if err != nil {
		return fmt.Sprintf("%s %s <%v>", m.Verb, m.Sub, err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// isSpace is the word separator. SAM says "space"; a tab is accepted too
// because some bridges are tested by hand over telnet.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// Parse parses one line. A trailing "\n" or "\r\n" is removed first.
//
// Unquoted MESSAGE values: some bridges write MESSAGE=text with spaces and
// no quotes. When an unquoted MESSAGE value is followed only by words
// without '=', those words belong to the message, so that
// "RESULT=I2P_ERROR MESSAGE=Unknown STYLE" reads as one message.
func Parse(line string) (Message, error) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if strings.ContainsAny(line, "\r\n") {
		return Message{}, fmt.Errorf("%w: line break inside a line", ErrSyntax)
	}
	i := skipSpaces(line, 0)
	if i == len(line) {
		return Message{}, fmt.Errorf("%w: empty line", ErrSyntax)
	}
	verb, i := word(line, i)
	m := Message{Verb: verb}
	if verb == "PING" || verb == "PONG" {
		if i < len(line) {
			m.Text = line[i+1:] // exactly one separator belongs to the grammar
		}
		return m, nil
	}
	i = skipSpaces(line, i)
	if i < len(line) && line[i] != '"' {
		w, j := word(line, i)
		if !strings.Contains(w, "=") {
			m.Sub = w
			i = j
		}
	}
	for {
		i = skipSpaces(line, i)
		if i == len(line) {
			return m, nil
		}
		start := i
		for i < len(line) && line[i] != '=' && !isSpace(line[i]) {
			if line[i] == '"' {
				return Message{}, fmt.Errorf("%w: quote in a key at column %d", ErrSyntax, i)
			}
			i++
		}
		key := line[start:i]
		if key == "" {
			return Message{}, fmt.Errorf("%w: empty key at column %d", ErrSyntax, start)
		}
		if i == len(line) || isSpace(line[i]) {
			m.Args = append(m.Args, Arg{Key: key})
			continue
		}
		i++ // '='
		if i < len(line) && line[i] == '"' {
			v, j, err := quoted(line, i)
			if err != nil {
				return Message{}, err
			}
			m.Args = append(m.Args, Arg{Key: key, Value: v})
			i = j
			if i < len(line) && !isSpace(line[i]) {
				return Message{}, fmt.Errorf("%w: text after closing quote at column %d", ErrSyntax, i)
			}
			continue
		}
		v, j := word(line, i)
		if key == "MESSAGE" && !strings.Contains(line[j:], "=") {
			v, j = strings.TrimRight(line[i:], " \t"), len(line)
		}
		m.Args = append(m.Args, Arg{Key: key, Value: v})
		i = j
	}
}

func skipSpaces(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// word returns the run of non-space bytes starting at i.
func word(s string, i int) (string, int) {
	j := i
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	return s[i:j], j
}

// quoted decodes a quoted value starting at the opening quote s[i].
func quoted(s string, i int) (string, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; c {
		case '"':
			return b.String(), j + 1, nil
		case '\\':
			if j+1 < len(s) && (s[j+1] == '"' || s[j+1] == '\\') {
				j++
				b.WriteByte(s[j])
				continue
			}
			b.WriteByte(c) // a lone backslash is literal
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("%w: unterminated quote at column %d", ErrSyntax, i)
}

// needsQuotes reports whether v must be quoted to survive Parse.
func needsQuotes(v string) bool {
	return strings.ContainsAny(v, " \t\"\\")
}

// Append formats m as one line ending in "\n". With allowQuotes false
// (SAM 3.0/3.1 peers), a value needing quotes is an ErrNeedsQuoting error
// rather than being sent in a form the peer would split.
func (m Message) Append(b []byte, allowQuotes bool) ([]byte, error) {
	if m.Verb == "" || strings.ContainsAny(m.Verb, " \t\r\n=\"") {
		return b, fmt.Errorf("%w: verb %q", ErrInvalid, m.Verb)
	}
	b = append(b, m.Verb...)
	if m.Verb == "PING" || m.Verb == "PONG" {
		if strings.ContainsAny(m.Text, "\r\n") {
			return b, fmt.Errorf("%w: line break in %s text", ErrInvalid, m.Verb)
		}
		if m.Text != "" {
			b = append(b, ' ')
			b = append(b, m.Text...)
		}
		return append(b, '\n'), nil
	}
	if m.Sub != "" {
		if strings.ContainsAny(m.Sub, " \t\r\n=\"") {
			return b, fmt.Errorf("%w: sub-command %q", ErrInvalid, m.Sub)
		}
		b = append(b, ' ')
		b = append(b, m.Sub...)
	}
	for _, a := range m.Args {
		if a.Key == "" || strings.ContainsAny(a.Key, " \t\r\n=\"\\") {
			return b, fmt.Errorf("%w: key %q", ErrInvalid, a.Key)
		}
		if strings.ContainsAny(a.Value, "\r\n") {
			return b, fmt.Errorf("%w: line break in the value of %s", ErrInvalid, a.Key)
		}
		b = append(b, ' ')
		b = append(b, a.Key...)
		b = append(b, '=')
		if !needsQuotes(a.Value) {
			b = append(b, a.Value...)
			continue
		}
		if !allowQuotes {
			return b, fmt.Errorf("%w: %s=%q", ErrNeedsQuoting, a.Key, a.Value)
		}
		b = append(b, '"')
		for i := 0; i < len(a.Value); i++ {
			if c := a.Value[i]; c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, a.Value[i])
		}
		b = append(b, '"')
	}
	return append(b, '\n'), nil
}
