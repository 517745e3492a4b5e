package sam_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"i2pbridge/router/sam"
)

type arg = sam.Arg

var validLines = []struct {
	name string
	in   string
	want sam.Line
}{
	{"hello", "HELLO VERSION MIN=3.0 MAX=3.3\n", sam.Line{Verb: "HELLO", Sub: "VERSION", Args: []arg{{"MIN", "3.0"}, {"MAX", "3.3"}}}},
	{"crlf", "HELLO VERSION\r\n", sam.Line{Verb: "HELLO", Sub: "VERSION"}},
	{"extra spaces and tabs", "  SESSION   CREATE\tSTYLE=STREAM  ID=a \n", sam.Line{Verb: "SESSION", Sub: "CREATE", Args: []arg{{"STYLE", "STREAM"}, {"ID", "a"}}}},
	{"base64 with padding", "STREAM CONNECT ID=x DESTINATION=ab~-==\n", sam.Line{Verb: "STREAM", Sub: "CONNECT", Args: []arg{{"ID", "x"}, {"DESTINATION", "ab~-=="}}}},
	{"quoted with escapes", `SESSION STATUS RESULT=I2P_ERROR MESSAGE="a \"q\" \\ b"` + "\n", sam.Line{Verb: "SESSION", Sub: "STATUS", Args: []arg{{"RESULT", "I2P_ERROR"}, {"MESSAGE", `a "q" \ b`}}}},
	{"lone backslash is literal", `X Y K="a\qb"` + "\n", sam.Line{Verb: "X", Sub: "Y", Args: []arg{{"K", `a\qb`}}}},
	{"empty values", `X Y A B= C=""` + "\n", sam.Line{Verb: "X", Sub: "Y", Args: []arg{{"A", ""}, {"B", ""}, {"C", ""}}}},
	{"no sub-command", "X A=1\n", sam.Line{Verb: "X", Args: []arg{{"A", "1"}}}},
	{"verb only", "QUIT\n", sam.Line{Verb: "QUIT"}},
	{"utf-8", "X Y K=\"grüß dich\" L=ü\n", sam.Line{Verb: "X", Sub: "Y", Args: []arg{{"K", "grüß dich"}, {"L", "ü"}}}},
	{"ping with text", "PING hello  world\n", sam.Line{Verb: "PING", Text: "hello  world"}},
	{"ping bare", "PING\n", sam.Line{Verb: "PING"}},
	{"ping keeps extra spaces", "ping  x=\"\n", sam.Line{Verb: "ping", Text: " x=\""}},
	{"pong", "PONG 1\n", sam.Line{Verb: "PONG", Text: "1"}},
	{"lower case kept", "hello version\n", sam.Line{Verb: "hello", Sub: "version"}},
	{"quoted value with equals", `X Y K="a=b c"` + "\n", sam.Line{Verb: "X", Sub: "Y", Args: []arg{{"K", "a=b c"}}}},
}

func TestParseLineValid(t *testing.T) {
	for _, tc := range validLines {
		t.Run(tc.name, func(t *testing.T) {
			got, n, err := sam.ParseLine([]byte(tc.in + "TRAILING"))
			if err != nil {
				t.Fatalf("ParseLine(%q): %v", tc.in, err)
			}
			if n != len(tc.in) {
				t.Errorf("n = %d, want %d", n, len(tc.in))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseLine(%q) =\n %#v\nwant\n %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseLineRefusesBadLines(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
		msg      string
	}{
		{"unterminated quote", `X Y K="abc` + "\n", sam.ErrSyntax, "unterminated quote"},
		{"escaped closing quote", `X Y K="abc\"` + "\n", sam.ErrSyntax, "unterminated quote"},
		{"text after quote", `X Y K="a"b` + "\n", sam.ErrSyntax, "after the closing quote"},
		{"quote inside unquoted value", `X Y K=a"b` + "\n", sam.ErrSyntax, "quote inside the unquoted value of K"},
		{"empty key", "X Y =v\n", sam.ErrSyntax, "without a key"},
		{"duplicate key", "X Y A=1 A=2\n", sam.ErrSyntax, "A given twice"},
		{"quote in key", `X Y K"=v` + "\n", sam.ErrSyntax, "in key"},
		{"control character", "X Y K=\x01\n", sam.ErrSyntax, "control character 0x01"},
		{"carriage return inside", "X\rY\n", sam.ErrSyntax, "control character 0x0d"},
		{"delete character", "X Y K=\x7f\n", sam.ErrSyntax, "control character 0x7f"},
		{"nul", "X\x00\n", sam.ErrSyntax, "control character 0x00"},
		{"invalid utf-8", "X Y K=\xff\n", sam.ErrSyntax, "not UTF-8"},
		{"parameter first", "A=B\n", sam.ErrSyntax, "in command"},
		{"quote in command", "\"X\" Y\n", sam.ErrSyntax, "in command"},
		{"empty", "\n", sam.ErrEmptyLine, ""},
		{"blank", "  \t\r\n", sam.ErrEmptyLine, ""},
		{"no newline", "HELLO VERSION", sam.ErrIncomplete, ""},
		{"too long", strings.Repeat("A", sam.MaxLineLen), sam.ErrLineTooLong, ""},
		{"newline just past the limit", strings.Repeat("A", sam.MaxLineLen) + "\n", sam.ErrLineTooLong, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, n, err := sam.ParseLine([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseLine(%q) = %v, %d, %v; want %v", tc.in, l, n, err, tc.want)
			}
			if n != 0 || !reflect.DeepEqual(l, sam.Line{}) {
				t.Errorf("ParseLine(%q) returned %v, %d with its error", tc.in, l, n)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

// TestParseLineTruncated: every prefix of a valid line is incomplete, and
// says so cleanly (design habit 3).
func TestParseLineTruncated(t *testing.T) {
	for _, tc := range validLines {
		for i := range len(tc.in) {
			l, n, err := sam.ParseLine([]byte(tc.in[:i]))
			if !errors.Is(err, sam.ErrIncomplete) || n != 0 || !reflect.DeepEqual(l, sam.Line{}) {
				t.Fatalf("ParseLine(%q) = %v, %d, %v; want ErrIncomplete", tc.in[:i], l, n, err)
			}
		}
	}
}

func TestAppendReply(t *testing.T) {
	for _, tc := range []struct {
		l    sam.Line
		want string
	}{
		{sam.Line{Verb: "HELLO", Sub: "REPLY", Args: []arg{{"RESULT", "OK"}, {"VERSION", "3.3"}}}, "HELLO REPLY RESULT=OK VERSION=3.3\n"},
		{sam.Line{Verb: "SESSION", Sub: "STATUS", Args: []arg{{"RESULT", "I2P_ERROR"}, {"MESSAGE", `bad "x" \ y`}}}, `SESSION STATUS RESULT=I2P_ERROR MESSAGE="bad \"x\" \\ y"` + "\n"},
		{sam.Line{Verb: "X", Args: []arg{{"EMPTY", ""}, {"TAB", "a\tb"}}}, "X EMPTY= TAB=\"a\tb\"\n"},
		{sam.Line{Verb: "PONG", Text: "some text"}, "PONG some text\n"},
		{sam.Line{Verb: "PONG"}, "PONG\n"},
	} {
		got, err := sam.AppendReply([]byte("prefix:"), tc.l)
		if err != nil || string(got) != "prefix:"+tc.want {
			t.Errorf("AppendReply(%#v) = %q, %v; want %q", tc.l, got, err, tc.want)
		}
		if tc.l.Len() != len(tc.want) {
			t.Errorf("Len() = %d, want %d", tc.l.Len(), len(tc.want))
		}
	}
	for _, l := range []sam.Line{
		{},
		{Verb: "A B"},
		{Verb: "A=B"},
		{Verb: "X", Sub: "Y Z"},
		{Verb: "X", Args: []arg{{"", "v"}}},
		{Verb: "X", Args: []arg{{"K K", "v"}}},
		{Verb: "X", Args: []arg{{"K", "line\nbreak"}}},
		{Verb: "X", Args: []arg{{"K", "1"}, {"K", "2"}}},
		{Verb: "X", Text: "text"},
		{Verb: "PING", Args: []arg{{"K", "v"}}},
		{Verb: "PING", Text: "a\nb"},
	} {
		got, err := sam.AppendReply([]byte("keep"), l)
		if !errors.Is(err, sam.ErrInvalid) || string(got) != "keep" {
			t.Errorf("AppendReply(%#v) = %q, %v; want ErrInvalid and the buffer untouched", l, got, err)
		}
	}
}

func TestDatagramHeader(t *testing.T) {
	in := "3.0 sess AAAA~-== FROM_PORT=1 TO_PORT=2\npayload"
	h, n, err := sam.ParseDatagramHeader([]byte(in))
	want := sam.DatagramHeader{Version: "3.0", ID: "sess", Destination: "AAAA~-==", Args: []arg{{"FROM_PORT", "1"}, {"TO_PORT", "2"}}}
	if err != nil || n != len(in)-len("payload") || !reflect.DeepEqual(h, want) {
		t.Fatalf("ParseDatagramHeader = %#v, %d, %v", h, n, err)
	}
	b, err := sam.AppendDatagramHeader(nil, h)
	if err != nil || string(b) != in[:n] {
		t.Errorf("AppendDatagramHeader = %q, %v", b, err)
	}
	for i := range n {
		if _, _, err := sam.ParseDatagramHeader([]byte(in[:i])); !errors.Is(err, sam.ErrIncomplete) {
			t.Fatalf("prefix %q: %v, want ErrIncomplete", in[:i], err)
		}
	}
	for _, bad := range []string{"3.0 sess\nx", "2.0 s d\nx", "3.x s d\nx", "3.0 s=1 d\nx", "3.0 s d K=\"\nx", "3.0 s \"d\nx"} {
		if _, _, err := sam.ParseDatagramHeader([]byte(bad)); !errors.Is(err, sam.ErrSyntax) {
			t.Errorf("ParseDatagramHeader(%q) = %v, want ErrSyntax", bad, err)
		}
	}
}

// FuzzParseLine: whatever parses formats back to a line that parses to
// the same Line, and formatting is canonical (design habit 4).
func FuzzParseLine(f *testing.F) {
	for _, tc := range validLines {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(`X Y K="a\"b\\c" L= M` + "\n"))
	f.Add([]byte("PING \t x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, n, err := sam.ParseLine(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error with n = %d", n)
			}
			return
		}
		if n < 1 || n > len(b) || b[n-1] != '\n' {
			t.Fatalf("n = %d for %q", n, b)
		}
		out, err := sam.AppendReply(nil, l)
		if err != nil {
			t.Fatalf("AppendReply(%#v) of parsed %q: %v", l, b[:n], err)
		}
		l2, n2, err := sam.ParseLine(out)
		if err != nil || n2 != len(out) {
			t.Fatalf("reparse of %q: %v, %d", out, err, n2)
		}
		if !reflect.DeepEqual(normalize(l), normalize(l2)) {
			t.Fatalf("round trip changed the line:\n%q\n%#v\n%q\n%#v", b[:n], l, out, l2)
		}
		out2, _ := sam.AppendReply(nil, l2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("formatting is not canonical: %q then %q", out, out2)
		}
	})
}

// normalize treats nil and empty Args alike.
func normalize(l sam.Line) sam.Line {
	if len(l.Args) == 0 {
		l.Args = nil
	}
	return l
}

func FuzzParseDatagramHeader(f *testing.F) {
	f.Add([]byte("3.0 sess AAAA~-== FROM_PORT=1 TO_PORT=2\npayload"))
	f.Add([]byte("3 s d\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := sam.ParseDatagramHeader(b)
		if err != nil {
			return
		}
		out, err := sam.AppendDatagramHeader(nil, h)
		if err != nil {
			t.Fatalf("AppendDatagramHeader(%#v) of parsed %q: %v", h, b[:n], err)
		}
		h2, n2, err := sam.ParseDatagramHeader(out)
		if err != nil || n2 != len(out) {
			t.Fatalf("reparse of %q: %v", out, err)
		}
		if len(h.Args) == 0 {
			h.Args = nil
		}
		if len(h2.Args) == 0 {
			h2.Args = nil
		}
		if !reflect.DeepEqual(h, h2) {
			t.Fatalf("round trip changed the header: %#v vs %#v", h, h2)
		}
	})
}
