package samline

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Message
	}{
		{"hello reply", "HELLO REPLY RESULT=OK VERSION=3.1\n",
			Message{Verb: "HELLO", Sub: "REPLY", Args: []Arg{{"RESULT", "OK"}, {"VERSION", "3.1"}}}},
		{"crlf", "HELLO REPLY RESULT=NOVERSION\r\n",
			Message{Verb: "HELLO", Sub: "REPLY", Args: []Arg{{"RESULT", "NOVERSION"}}}},
		{"no newline", "STREAM STATUS RESULT=OK",
			Message{Verb: "STREAM", Sub: "STATUS", Args: []Arg{{"RESULT", "OK"}}}},
		// i2pd: SAM_SESSION_STATUS_I2P_ERROR
		{"quoted message", `SESSION STATUS RESULT=I2P_ERROR MESSAGE="Unknown STYLE"` + "\n",
			Message{Verb: "SESSION", Sub: "STATUS", Args: []Arg{{"RESULT", "I2P_ERROR"}, {"MESSAGE", "Unknown STYLE"}}}},
		{"escaped quote and backslash", `X Y K="a \"b\" c\\d" L=1`,
			Message{Verb: "X", Sub: "Y", Args: []Arg{{"K", `a "b" c\d`}, {"L", "1"}}}},
		{"lone backslash is literal", `X Y K="a\b"`,
			Message{Verb: "X", Sub: "Y", Args: []Arg{{"K", `a\b`}}}},
		{"unquoted message to end of line", "STREAM STATUS RESULT=CANT_REACH_PEER MESSAGE=Connection timed out",
			Message{Verb: "STREAM", Sub: "STATUS", Args: []Arg{{"RESULT", "CANT_REACH_PEER"}, {"MESSAGE", "Connection timed out"}}}},
		{"unquoted message followed by args", "X Y MESSAGE=oops RESULT=I2P_ERROR",
			Message{Verb: "X", Sub: "Y", Args: []Arg{{"MESSAGE", "oops"}, {"RESULT", "I2P_ERROR"}}}},
		{"multiple spaces", "NAMING   REPLY  RESULT=OK   NAME=ME  ",
			Message{Verb: "NAMING", Sub: "REPLY", Args: []Arg{{"RESULT", "OK"}, {"NAME", "ME"}}}},
		{"value with equals", "DEST REPLY PUB=abc= PRIV=de==",
			Message{Verb: "DEST", Sub: "REPLY", Args: []Arg{{"PUB", "abc="}, {"PRIV", "de=="}}}},
		{"bare key and empty values", `X Y A B= C=""`,
			Message{Verb: "X", Sub: "Y", Args: []Arg{{"A", ""}, {"B", ""}, {"C", ""}}}},
		{"no sub", "QUIT", Message{Verb: "QUIT"}},
		{"args without sub", "AAAA~-== FROM_PORT=1 TO_PORT=80",
			Message{Verb: "AAAA~-==", Args: []Arg{{"FROM_PORT", "1"}, {"TO_PORT", "80"}}}},
		{"accept line alone", "AAAA~-==\n", Message{Verb: "AAAA~-=="}},
		{"ping with text", "PING 1234 x=y\n", Message{Verb: "PING", Text: "1234 x=y"}},
		{"pong with text keeps spaces", "PONG  a b", Message{Verb: "PONG", Text: " a b"}},
		{"bare ping", "PING", Message{Verb: "PING"}},
		{"utf8", "X Y K=\"héllo wörld\"", Message{Verb: "X", Sub: "Y", Args: []Arg{{"K", "héllo wörld"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.line)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.line, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q)\n got %#v\nwant %#v", tt.line, got, tt.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, line string }{
		{"empty", ""},
		{"only newline", "\n"},
		{"only spaces", "   \n"},
		{"unterminated quote", `X Y K="abc`},
		{"text after quote", `X Y K="abc"def`},
		{"empty key", "X Y =v"},
		{"quote in key", `X Y K"=v`},
		{"embedded newline", "X Y\nZ W"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := Parse(tt.line); !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) = %#v, %v; want ErrSyntax", tt.line, m, err)
			}
		})
	}
}

func TestGetLastWins(t *testing.T) {
	m, err := Parse("X Y A=1 B=2 A=3")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Get("A"); !ok || v != "3" {
		t.Fatalf("Get(A) = %q, %v; want 3", v, ok)
	}
	if _, ok := m.Get("C"); ok {
		t.Fatal("Get(C) found a missing key")
	}
	if m.Value("B") != "2" || m.Value("C") != "" {
		t.Fatalf("Value: B=%q C=%q", m.Value("B"), m.Value("C"))
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name   string
		m      Message
		quotes bool
		want   string
		err    error
	}{
		{"plain", Message{Verb: "HELLO", Sub: "VERSION", Args: []Arg{{"MIN", "3.0"}, {"MAX", "3.3"}}}, false,
			"HELLO VERSION MIN=3.0 MAX=3.3\n", nil},
		{"empty value", Message{Verb: "X", Sub: "Y", Args: []Arg{{"K", ""}}}, false, "X Y K=\n", nil},
		{"quoted when allowed", Message{Verb: "X", Sub: "Y", Args: []Arg{{"K", `a "b\`}}}, true,
			`X Y K="a \"b\\"` + "\n", nil},
		{"quoting refused before 3.2", Message{Verb: "X", Sub: "Y", Args: []Arg{{"K", "a b"}}}, false, "", ErrNeedsQuoting},
		{"newline in value", Message{Verb: "X", Sub: "Y", Args: []Arg{{"K", "a\nb"}}}, true, "", ErrInvalid},
		{"space in key", Message{Verb: "X", Sub: "Y", Args: []Arg{{"K K", "v"}}}, true, "", ErrInvalid},
		{"equals in key", Message{Verb: "X", Sub: "Y", Args: []Arg{{"K=", "v"}}}, true, "", ErrInvalid},
		{"empty key", Message{Verb: "X", Sub: "Y", Args: []Arg{{"", "v"}}}, true, "", ErrInvalid},
		{"empty verb", Message{}, true, "", ErrInvalid},
		{"ping", Message{Verb: "PING", Text: "42"}, false, "PING 42\n", nil},
		{"ping newline", Message{Verb: "PING", Text: "4\n2"}, false, "", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.Append(nil, tt.quotes)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Append = %q, %v; want %v", got, err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("Append = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// Every prefix of a valid line either parses or fails with ErrSyntax; it
// never panics (habit 3: truncated input gives a clean error).
func TestParsePrefixes(t *testing.T) {
	line := `SESSION STATUS RESULT=I2P_ERROR MESSAGE="a \"quoted\" text" X=1` + "\n"
	for i := range len(line) + 1 {
		if _, err := Parse(line[:i]); err != nil && !errors.Is(err, ErrSyntax) {
			t.Fatalf("Parse(%q): %v is not ErrSyntax", line[:i], err)
		}
	}
}

// FuzzRoundTrip: whatever Parse accepts, Append(quotes) writes a line that
// parses back to the same message (habit 4: fuzz for round trips).
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{
		"HELLO REPLY RESULT=OK VERSION=3.1",
		`SESSION STATUS RESULT=I2P_ERROR MESSAGE="Unknown STYLE"`,
		`X Y K="a \"b\" c\\d" L=1 M`,
		"PING abc",
		"AAAA FROM_PORT=1 TO_PORT=2",
		"STREAM STATUS RESULT=CANT_REACH_PEER MESSAGE=Connection timed out",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, err := Parse(line)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q): unexpected error class %v", line, err)
			}
			return
		}
		b, err := m.Append(nil, true)
		if err != nil {
			// Parse accepts words Append refuses to write (for example a
			// Sub with '"'); that is fine as long as it is ErrInvalid.
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Append(%#v): %v", m, err)
			}
			return
		}
		m2, err := Parse(string(b))
		if err != nil {
			t.Fatalf("Parse(Append(%q)) = %q: %v", line, b, err)
		}
		if m.Verb == "PING" || m.Verb == "PONG" {
			if m2.Text != m.Text && !(m.Text == "" && m2.Text == "") {
				t.Fatalf("text %q -> %q", m.Text, m2.Text)
			}
			return
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("round trip of %q via %q:\n got %#v\nwant %#v", line, b, m2, m)
		}
		if strings.Count(string(b), "\n") != 1 {
			t.Fatalf("Append wrote %q: not one line", b)
		}
	})
}

func normalize(m Message) Message {
	if len(m.Args) == 0 {
		m.Args = nil
	}
	return m
}
