package sam

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLineLen bounds one command line, its '\n' included. A SESSION CREATE
// carries an 884+ character private key plus options; i2pd reads commands
// into 8 KiB, and twice that leaves room for long option lists without
// letting a client make us buffer without end.
const MaxLineLen = 16 << 10

// Codec errors. Every one is also a reason the server answers
// RESULT=I2P_ERROR (ErrIncomplete only when the client hangs up mid-line).
var (
	// ErrIncomplete: no '\n' yet; read more and parse again.
	ErrIncomplete = errors.New("sam: incomplete line")
	// ErrLineTooLong: MaxLineLen bytes without a '\n'.
	ErrLineTooLong = errors.New("sam: line too long")
	// ErrEmptyLine: a line of nothing but spaces (telnet users press
	// Enter); the server ignores it.
	ErrEmptyLine = errors.New("sam: empty line")
	// ErrSyntax: not SAM grammar (bad quoting, a control character,
	// invalid UTF-8, an empty or duplicated key...).
	ErrSyntax = errors.New("sam: syntax error")
	// ErrInvalid: AppendReply was given something no line can carry.
	ErrInvalid = errors.New("sam: invalid line")
)

// Arg is one KEY=VALUE parameter. A bare KEY or KEY= (allowed by SAM 3.2,
// "Empty values") has an empty Value.
type Arg struct {
	Key, Value string
}

// Line is one SAM command or reply (samv3.html "Encoding and Escaping"):
//
//	VERB [SUB] [KEY[=VALUE]]...\n      e.g. SESSION CREATE STYLE=STREAM ID=a
//	PING[ text]\n / PONG[ text]\n      (SAM 3.2)
//
// Words are separated by one or more spaces (or tabs, for telnet). A
// VALUE may be enclosed in double quotes, inside which \" and \\ are
// escapes (SAM 3.2); a backslash before any other character is itself.
// Verb and Sub are kept as written: the protocol is case-sensitive and
// mapping commands to upper case is the server's business.
type Line struct {
	// Verb is the first word ("HELLO", "SESSION", "PING"...).
	Verb string
	// Sub is the second word when it holds no '=' ("VERSION",
	// "CREATE"...), "" otherwise.
	Sub string
	// Args are the parameters in line order; keys are unique.
	Args []Arg
	// Text is what follows "PING " or "PONG " verbatim.
	Text string
}

// Get returns the value of key and whether it was present.
func (l Line) Get(key string) (string, bool) {
	for _, a := range l.Args {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// Value returns the value of key, "" when absent.
func (l Line) Value(key string) string {
	v, _ := l.Get(key)
	return v
}

// Is reports whether l starts with verb and sub (compared as written).
func (l Line) Is(verb, sub string) bool { return l.Verb == verb && l.Sub == sub }

// String formats l for logs and test failures.
func (l Line) String() string {
	b, err := AppendReply(nil, l)
	if err != nil {
		return fmt.Sprintf("%q %q %q <%v>", l.Verb, l.Sub, l.Args, err)
	}
	return string(b[:len(b)-1])
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// isPingPong reports a verb whose rest of line is free text. Case is
// ignored, as the server ignores it for every verb.
func isPingPong(verb string) bool {
	return strings.EqualFold(verb, "PING") || strings.EqualFold(verb, "PONG")
}

// ParseLine parses the line at the start of b and returns it with the
// number of bytes it took, '\n' included. A trailing "\r" is dropped.
// Without a '\n' in b it returns ErrIncomplete, or ErrLineTooLong once b
// holds MaxLineLen bytes. It never retains b.
func ParseLine(b []byte) (Line, int, error) {
	limit := min(len(b), MaxLineLen)
	nl := bytes.IndexByte(b[:limit], '\n')
	if nl < 0 {
		if len(b) >= MaxLineLen {
			return Line{}, 0, fmt.Errorf("%w: no end of line in %d bytes", ErrLineTooLong, MaxLineLen)
		}
		return Line{}, 0, fmt.Errorf("%w: %d bytes without a newline", ErrIncomplete, len(b))
	}
	n := nl + 1
	s := string(bytes.TrimSuffix(b[:nl], []byte("\r")))
	if !utf8.ValidString(s) {
		return Line{}, 0, fmt.Errorf("%w: not UTF-8", ErrSyntax)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return Line{}, 0, fmt.Errorf("%w: control character 0x%02x at column %d", ErrSyntax, c, i+1)
		}
	}
	l, err := parseWords(s)
	if err != nil {
		return Line{}, 0, err
	}
	return l, n, nil
}

// parseWords parses one line without its line end.
func parseWords(s string) (Line, error) {
	i := skipSpaces(s, 0)
	if i == len(s) {
		return Line{}, ErrEmptyLine
	}
	verb, i := word(s, i)
	if err := checkName("command", verb, i-len(verb)); err != nil {
		return Line{}, err
	}
	l := Line{Verb: verb}
	if isPingPong(verb) {
		if i < len(s) {
			l.Text = s[i+1:] // exactly one separator belongs to the grammar
		}
		return l, nil
	}
	i = skipSpaces(s, i)
	if i < len(s) {
		if w, j := word(s, i); !strings.ContainsAny(w, `="`) {
			l.Sub, i = w, j
		}
	}
	args, err := parseArgs(s, i)
	if err != nil {
		return Line{}, err
	}
	l.Args = args
	return l, nil
}

// parseArgs parses the KEY[=VALUE] words of s from i on.
func parseArgs(s string, i int) ([]Arg, error) {
	l := Line{}
	for {
		i = skipSpaces(s, i)
		if i == len(s) {
			return l.Args, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[start:i]
		if key == "" {
			return nil, fmt.Errorf("%w: '=' without a key at column %d", ErrSyntax, start+1)
		}
		if err := checkName("key", key, start); err != nil {
			return nil, err
		}
		if _, dup := l.Get(key); dup {
			return nil, fmt.Errorf("%w: key %s given twice", ErrSyntax, key)
		}
		if i == len(s) || isSpace(s[i]) {
			l.Args = append(l.Args, Arg{Key: key})
			continue
		}
		i++ // '='
		var v string
		if i < len(s) && s[i] == '"' {
			var err error
			if v, i, err = unquote(s, i); err != nil {
				return nil, fmt.Errorf("%w (value of %s)", err, key)
			}
			if i < len(s) && !isSpace(s[i]) {
				return nil, fmt.Errorf("%w: text after the closing quote of %s at column %d", ErrSyntax, key, i+1)
			}
		} else {
			v, i = word(s, i)
			if q := strings.IndexByte(v, '"'); q >= 0 {
				return nil, fmt.Errorf("%w: quote inside the unquoted value of %s at column %d (quote the whole value)", ErrSyntax, key, i-len(v)+q+1)
			}
		}
		l.Args = append(l.Args, Arg{Key: key, Value: v})
	}
}

// checkName refuses a verb or key holding a quote; '=' never reaches here
// for keys, and a verb with '=' means the command word is missing.
func checkName(what, w string, col int) error {
	if i := strings.IndexAny(w, `="`); i >= 0 {
		return fmt.Errorf("%w: %q in %s %q at column %d", ErrSyntax, w[i], what, w, col+i+1)
	}
	return nil
}

func skipSpaces(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// word returns the run of non-space bytes starting at i and its end.
func word(s string, i int) (string, int) {
	j := i
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	return s[i:j], j
}

// unquote decodes the quoted value whose opening quote is s[i] and returns
// it with the index after the closing quote.
func unquote(s string, i int) (string, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; c {
		case '"':
			return b.String(), j + 1, nil
		case '\\':
			if j+1 < len(s) && (s[j+1] == '"' || s[j+1] == '\\') {
				j++
			}
			b.WriteByte(s[j])
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("%w: unterminated quote at column %d", ErrSyntax, i+1)
}

// needsQuotes reports whether v must be quoted to be read back as itself.
func needsQuotes(v string) bool { return strings.ContainsAny(v, " \t\"\\") }

// validName: what a verb, sub-command or key may hold.
func validName(w string) bool {
	return w != "" && utf8.ValidString(w) && !strings.ContainsFunc(w, func(r rune) bool {
		return r == ' ' || r == '=' || r == '"' || r < 0x20 || r == 0x7f
	})
}

// validText: what a value or PING text may hold (no line ends, no
// controls but tab).
func validText(v string) bool {
	return utf8.ValidString(v) && !strings.ContainsFunc(v, func(r rune) bool {
		return (r < 0x20 && r != '\t') || r == 0x7f
	})
}

// AppendReply appends l as one line ending in '\n'. Values holding a
// space, tab, quote or backslash are quoted with SAM 3.2 escapes; SAM 3.0
// and 3.1 clients see such values only in MESSAGE, which i2pd quotes too.
func AppendReply(b []byte, l Line) ([]byte, error) {
	if !validName(l.Verb) {
		return b, fmt.Errorf("%w: command %q", ErrInvalid, l.Verb)
	}
	if isPingPong(l.Verb) {
		if l.Sub != "" || len(l.Args) > 0 || !validText(l.Text) {
			return b, fmt.Errorf("%w: %s takes only text without line breaks", ErrInvalid, l.Verb)
		}
		b = append(b, l.Verb...)
		if l.Text != "" {
			b = append(b, ' ')
			b = append(b, l.Text...)
		}
		return append(b, '\n'), nil
	}
	if l.Text != "" {
		return b, fmt.Errorf("%w: text on a %s line", ErrInvalid, l.Verb)
	}
	start := len(b)
	b = append(b, l.Verb...)
	if l.Sub != "" {
		if !validName(l.Sub) {
			return b[:start], fmt.Errorf("%w: sub-command %q", ErrInvalid, l.Sub)
		}
		b = append(b, ' ')
		b = append(b, l.Sub...)
	}
	for i, a := range l.Args {
		if !validName(a.Key) {
			return b[:start], fmt.Errorf("%w: key %q", ErrInvalid, a.Key)
		}
		for _, prev := range l.Args[:i] {
			if prev.Key == a.Key {
				return b[:start], fmt.Errorf("%w: key %s given twice", ErrInvalid, a.Key)
			}
		}
		if !validText(a.Value) {
			return b[:start], fmt.Errorf("%w: control character in the value of %s", ErrInvalid, a.Key)
		}
		b = append(b, ' ')
		b = append(b, a.Key...)
		b = append(b, '=')
		if !needsQuotes(a.Value) {
			b = append(b, a.Value...)
			continue
		}
		b = append(b, '"')
		for j := 0; j < len(a.Value); j++ {
			if c := a.Value[j]; c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, a.Value[j])
		}
		b = append(b, '"')
	}
	return append(b, '\n'), nil
}

// Len returns the length of the line AppendReply writes (0 when it would
// fail).
func (l Line) Len() int {
	b, err := AppendReply(nil, l)
	if err != nil {
		return 0
	}
	return len(b)
}

// DatagramHeader is the first line of a datagram sent to the SAM UDP port
// (samv3.html "SAM Datagrams: Sending Repliable or Raw Datagrams"):
//
//	3.x NICKNAME DESTINATION [FROM_PORT=n] [TO_PORT=n] [PROTOCOL=n] [...]\n
//
// followed by the payload. The destination is base64 (it may end in
// '='), so it is a word of its own, not a KEY=VALUE.
type DatagramHeader struct {
	// Version is "3.0", or any "3.x" since SAM 3.2.
	Version string
	// ID is the session's nickname.
	ID string
	// Destination is the recipient.
	Destination string
	// Args are the options, in line order.
	Args []Arg
}

// Get returns the value of key and whether it was present.
func (h DatagramHeader) Get(key string) (string, bool) {
	return Line{Args: h.Args}.Get(key)
}

// ParseDatagramHeader parses the header line at the start of b and
// returns it with its length, '\n' included; the payload follows.
func ParseDatagramHeader(b []byte) (DatagramHeader, int, error) {
	limit := min(len(b), MaxLineLen)
	nl := bytes.IndexByte(b[:limit], '\n')
	if nl < 0 {
		if len(b) >= MaxLineLen {
			return DatagramHeader{}, 0, fmt.Errorf("%w: no end of the datagram header in %d bytes", ErrLineTooLong, MaxLineLen)
		}
		return DatagramHeader{}, 0, fmt.Errorf("%w: datagram header without a newline", ErrIncomplete)
	}
	s := string(b[:nl])
	if !validText(s) {
		return DatagramHeader{}, 0, fmt.Errorf("%w: datagram header is not UTF-8 text", ErrSyntax)
	}
	var h DatagramHeader
	i := skipSpaces(s, 0)
	for _, f := range []*string{&h.Version, &h.ID, &h.Destination} {
		*f, i = word(s, i)
		i = skipSpaces(s, i)
	}
	if h.Destination == "" {
		return DatagramHeader{}, 0, fmt.Errorf("%w: datagram header needs version, nickname and destination", ErrSyntax)
	}
	if !validVersion3(h.Version) {
		return DatagramHeader{}, 0, fmt.Errorf("%w: datagram header version %q, want 3.x", ErrSyntax, h.Version)
	}
	if strings.ContainsAny(h.ID, `="`) {
		return DatagramHeader{}, 0, fmt.Errorf("%w: bad nickname %q in the datagram header", ErrSyntax, h.ID)
	}
	if strings.Contains(h.Destination, `"`) {
		return DatagramHeader{}, 0, fmt.Errorf("%w: quote in the datagram header's destination", ErrSyntax)
	}
	args, err := parseArgs(s, i)
	if err != nil {
		return DatagramHeader{}, 0, err
	}
	h.Args = args
	return h, nl + 1, nil
}

// validVersion3 accepts "3" and "3.<digits>".
func validVersion3(v string) bool {
	rest, ok := strings.CutPrefix(v, "3")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	digits, ok := strings.CutPrefix(rest, ".")
	return ok && digits != "" && strings.Trim(digits, "0123456789") == ""
}

// AppendDatagramHeader appends h as a header line.
func AppendDatagramHeader(b []byte, h DatagramHeader) ([]byte, error) {
	if !validVersion3(h.Version) || !validName(h.ID) || h.Destination == "" || strings.ContainsAny(h.Destination, " \t\"") || !validText(h.Destination) {
		return b, fmt.Errorf("%w: datagram header %q %q %q", ErrInvalid, h.Version, h.ID, h.Destination)
	}
	line, err := AppendReply(nil, Line{Verb: "X", Args: h.Args})
	if err != nil {
		return b, err
	}
	b = append(b, h.Version+" "+h.ID+" "+h.Destination...)
	return append(b, line[1:]...), nil
}
