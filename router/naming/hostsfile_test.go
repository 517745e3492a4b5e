package naming

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"i2pbridge/router/data"
)

func TestParseLine(t *testing.T) {
	d := testDest(t, 10)
	old := testNullCertDest(t, 11)
	b64 := d.Base64()
	tests := []struct {
		name string
		in   string
		want Line
		err  error
	}{
		{"blank", "", Line{Kind: LineEmpty}, nil},
		{"white space", " \t\r", Line{Kind: LineEmpty}, nil},
		{"hash comment", "# hosts from the release", Line{Kind: LineEmpty}, nil},
		{"semicolon comment", "; old style comment", Line{Kind: LineEmpty}, nil},
		{"bare marker is a comment", "#!", Line{Kind: LineEmpty}, nil},
		{"entry", "example.i2p=" + b64, Line{Kind: LineEntry, Entry: Entry{Name: "example.i2p", Dest: d}}, nil},
		{"entry with carriage return", "example.i2p=" + b64 + "\r", Line{Kind: LineEntry, Entry: Entry{Name: "example.i2p", Dest: d}}, nil},
		{"blanks around fields", "  Example.I2P = " + b64 + "  ", Line{Kind: LineEntry, Entry: Entry{Name: "example.i2p", Dest: d}}, nil},
		{"null certificate destination", "old.i2p=" + old.Base64(), Line{Kind: LineEntry, Entry: Entry{Name: "old.i2p", Dest: old}}, nil},
		{"trailing comment", "example.i2p=" + b64 + " # added by hand", Line{Kind: LineEntry, Entry: Entry{Name: "example.i2p", Dest: d}}, nil},
		{"empty extension", "example.i2p=" + b64 + "#!", Line{Kind: LineEntry, Entry: Entry{Name: "example.i2p", Dest: d}}, nil},
		{
			"extension fields, padding in values",
			"example.i2p=" + b64 + "#!sig=AbC~-==#date=1600000000#action=adddest",
			Line{Kind: LineEntry, Entry: Entry{Name: "example.i2p", Dest: d, Props: Props{"sig": "AbC~-==", "date": "1600000000", "action": "adddest"}}},
			nil,
		},
		{"empty value", "example.i2p=" + b64 + "#!note=", Line{Kind: LineEntry, Entry: Entry{Name: "example.i2p", Dest: d, Props: Props{"note": ""}}}, nil},
		{
			"command without entry",
			"#!action=remove#name=example.i2p#dest=" + b64 + "#sig=xyz=",
			Line{Kind: LineCommand, Entry: Entry{Props: Props{"action": "remove", "name": "example.i2p", "dest": b64, "sig": "xyz="}}},
			nil,
		},

		{"no equals", "example.i2p " + old.Base64(), Line{}, ErrSyntax},
		{"a word", "example.i2p", Line{}, ErrSyntax},
		{"blank instead of equals, padded destination", "example.i2p " + b64, Line{}, ErrInvalidName},
		{"name only", "example.i2p=", Line{}, ErrInvalidDestination},
		{"destination only", "=" + b64, Line{}, ErrInvalidName},
		{"invalid name", "exa_mple.i2p=" + b64, Line{}, ErrInvalidName},
		{"b32 name as entry", d.B32() + "=" + b64, Line{}, ErrReservedName},
		{"reserved name", "proxy.i2p=" + b64, Line{}, ErrReservedName},
		{"standard base64 alphabet", "example.i2p=" + strings.NewReplacer("-", "+", "~", "/").Replace(b64) + "+/", Line{}, ErrInvalidDestination},
		{"truncated destination", "example.i2p=" + b64[:len(b64)-8], Line{}, ErrInvalidDestination},
		{"trailing bytes after destination", "example.i2p=" + data.Base64Encode(append(d.Bytes(), 0, 0, 0)), Line{}, ErrInvalidDestination},
		{"destination too long", "example.i2p=" + strings.Repeat("A", MaxDestinationBase64+4), Line{}, ErrInvalidDestination},
		{"extension without equals", "example.i2p=" + b64 + "#!sig", Line{}, ErrSyntax},
		{"extension empty key", "example.i2p=" + b64 + "#!=v", Line{}, ErrSyntax},
		{"extension duplicate key", "example.i2p=" + b64 + "#!a=1#a=2", Line{}, ErrSyntax},
		{"extension with blank", "example.i2p=" + b64 + "#!a=1 2", Line{}, ErrSyntax},
		{"extension empty field", "example.i2p=" + b64 + "#!a=1##b=2", Line{}, ErrSyntax},
		{"command with bad field", "#!action", Line{}, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine(tt.in)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("ParseLine error = %v, want %v", err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLine = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Every prefix of a line must parse cleanly: either an error, or (once the
// destination is complete) the entry itself. A prefix that cuts into the
// destination must never yield an entry.
func TestParseLineTruncated(t *testing.T) {
	d := testDest(t, 12)
	entry := "example.i2p=" + d.Base64()
	line := entry + "#!action=adddest#olddest=" + testDest(t, 13).Base64() + "#sig=AAAA=="
	for i := 0; i <= len(line); i++ {
		l, err := ParseLine(line[:i])
		if err != nil {
			continue
		}
		switch {
		case i == 0 && l.Kind == LineEmpty:
		case i >= len(entry) && l.Kind == LineEntry && l.Entry.Dest == d:
		default:
			t.Fatalf("ParseLine(line[:%d]) = %+v, want an error", i, l)
		}
	}
}

func TestAppendEntryRoundTrip(t *testing.T) {
	entries := []Entry{
		{Name: "a.i2p", Dest: testDest(t, 20)},
		{Name: "b.example.i2p", Dest: testNullCertDest(t, 21)},
		{Name: "c.i2p", Dest: testDest(t, 22), Props: Props{"z": "1", "a": "x==", "m": ""}},
	}
	for _, e := range entries {
		b := AppendEntry(nil, e)
		if !bytes.HasSuffix(b, []byte("\n")) {
			t.Fatalf("AppendEntry(%s) = %q, want a trailing newline", e.Name, b)
		}
		l, err := ParseLine(string(b))
		if err != nil {
			t.Fatalf("ParseLine(AppendEntry(%s)): %v", e.Name, err)
		}
		if !reflect.DeepEqual(l.Entry, e) {
			t.Errorf("round trip of %s = %+v, want %+v", e.Name, l.Entry, e)
		}
	}
	got := string(AppendEntry(nil, entries[2]))
	if want := "#!a=x==#m=#z=1\n"; !strings.HasSuffix(got, want) {
		t.Errorf("extension fields written as %q, want sorted keys %q", got[strings.Index(got, "#"):], want)
	}
}

func TestReadBook(t *testing.T) {
	d1, d2, d3 := testDest(t, 30), testDest(t, 31), testNullCertDest(t, 32)
	input := "\xef\xbb\xbf# release hosts\r\n" + // 1: BOM + comment
		"one.i2p=" + d1.Base64() + "\r\n" + // 2
		"\n" + // 3
		"two.i2p=" + d2.Base64() + "#!sig=abc=\n" + // 4
		"bad line\n" + // 5
		"one.i2p=" + d1.Base64() + "\n" + // 6: same again, silently fine
		"ONE.i2p=" + d2.Base64() + "\n" + // 7: different, first wins
		"#!action=remove#name=two.i2p\n" + // 8: command, not applied
		"long.i2p=" + strings.Repeat("A", MaxLineLen) + "\n" + // 9
		"three.i2p=" + d3.Base64() // 10: no final newline

	b, skipped, err := ReadBook(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]data.Destination{"one.i2p": d1, "two.i2p": d2, "three.i2p": d3}
	if b.Len() != len(want) {
		t.Errorf("Len = %d, want %d", b.Len(), len(want))
	}
	for name, d := range want {
		if e, ok := b.Lookup(name); !ok || e.Dest != d {
			t.Errorf("Lookup(%s) = %v, %v; want %s", name, e.Dest, ok, d)
		}
	}
	if e, _ := b.Lookup("two.i2p"); e.Props["sig"] != "abc=" {
		t.Errorf("two.i2p props = %v, want sig=abc=", e.Props)
	}
	wantSkipped := []struct {
		line int
		err  error
	}{{5, ErrSyntax}, {7, ErrDuplicate}, {9, ErrLineTooLong}}
	if len(skipped) != len(wantSkipped) {
		t.Fatalf("skipped = %v, want lines %v", skipped, wantSkipped)
	}
	for i, w := range wantSkipped {
		if skipped[i].Line != w.line || !errors.Is(skipped[i], w.err) {
			t.Errorf("skipped[%d] = %v, want line %d %v", i, skipped[i], w.line, w.err)
		}
	}
}

// A line longer than the reader's buffer is skipped without being held in
// memory, and the lines after it are read normally.
func TestReadBookSkipsHugeLine(t *testing.T) {
	d1, d2 := testDest(t, 35), testDest(t, 36)
	input := line("a.i2p", d1) + "\n" + strings.Repeat("x", 200<<10) + "\n" + line("b.i2p", d2) + "\n"
	b, skipped, err := ReadBook(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 2 {
		t.Errorf("Len = %d, want 2", b.Len())
	}
	if len(skipped) != 1 || skipped[0].Line != 2 || !errors.Is(skipped[0], ErrLineTooLong) {
		t.Errorf("skipped = %v, want line 2 too long", skipped)
	}
}

// Every prefix of a file reads without error and yields a subset of the
// full file's entries: a truncated download never invents a mapping.
func TestReadBookTruncated(t *testing.T) {
	var buf bytes.Buffer
	for i := range 3 {
		fmt.Fprintf(&buf, "# host %d\nhost%d.i2p=%s#!k=v\n", i, i, testDest(t, 40+i).Base64())
	}
	full := buf.Bytes()
	all, _, err := ReadBook(bytes.NewReader(full))
	if err != nil || all.Len() != 3 {
		t.Fatalf("full file: %d entries, err %v", all.Len(), err)
	}
	for i := range full {
		b, _, err := ReadBook(bytes.NewReader(full[:i]))
		if err != nil {
			t.Fatalf("prefix %d: %v", i, err)
		}
		for _, e := range b.Entries() {
			if w, ok := all.Lookup(e.Name); !ok || w.Dest != e.Dest {
				t.Fatalf("prefix %d invented %s=%s", i, e.Name, e.Dest)
			}
		}
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadBookReaderError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("a.i2p="+testDest(t, 50).Base64()+"\n"), failingReader{boom})
	if _, _, err := ReadBook(r); !errors.Is(err, boom) {
		t.Fatalf("ReadBook error = %v, want %v", err, boom)
	}
}

// FuzzParseLine checks round trips, not only absence of panics: whatever
// ParseLine accepts as an entry, AppendEntry writes so that it parses back
// to the same entry and the same bytes.
func FuzzParseLine(f *testing.F) {
	d := testDest(f, 60)
	for _, s := range []string{
		"",
		"# comment",
		"example.i2p=" + d.Base64(),
		"example.i2p=" + d.Base64() + "#!sig=abc==#action=adddest",
		"#!action=remove#name=example.i2p",
		"Upper.I2P = " + testNullCertDest(f, 61).Base64() + " # c",
		"xn--bcher-kva.i2p=" + d.Base64()[:100],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil || l.Kind != LineEntry {
			return
		}
		if _, err := NormalizeName(l.Entry.Name); err != nil {
			t.Fatalf("accepted invalid name %q: %v", l.Entry.Name, err)
		}
		out := AppendEntry(nil, l.Entry)
		l2, err := ParseLine(string(out))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		if !reflect.DeepEqual(l2, l) {
			t.Fatalf("round trip changed the entry: %+v != %+v", l2, l)
		}
		if out2 := AppendEntry(nil, l2.Entry); !bytes.Equal(out2, out) {
			t.Fatalf("second write differs: %q != %q", out2, out)
		}
	})
}

// BenchmarkReadBook10k loads a 10,000-line hosts.txt (modern
// destinations, a comment every 100 lines).
func BenchmarkReadBook10k(b *testing.B) {
	var buf bytes.Buffer
	for i := range 10000 {
		if i%100 == 0 {
			fmt.Fprintf(&buf, "# block %d\n", i/100)
		}
		fmt.Fprintf(&buf, "host%d.i2p=%s\n", i, testDest(b, i).Base64())
	}
	input := buf.Bytes()
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		book, skipped, err := ReadBook(bytes.NewReader(input))
		if err != nil || len(skipped) != 0 || book.Len() != 10000 {
			b.Fatalf("ReadBook: %d entries, %d skipped, err %v", book.Len(), len(skipped), err)
		}
	}
}
