package data

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDateCodec(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Date
		time time.Time
	}{
		{"undefined", mustHex("0000000000000000"), 0, time.Time{}},
		// 2023-01-03T00:00:00Z, the i2pd 2.45.0 release day, in ms.
		{"i2pd 2.45.0 day", mustHex("0000018574ed8000"), 1672704000000, time.Date(2023, 1, 3, 0, 0, 0, 0, time.UTC)},
		{"one ms", mustHex("0000000000000001"), 1, time.Unix(0, int64(time.Millisecond)).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, n, err := ParseDate(append(tt.in, 0xff)) // trailing byte is not consumed
			if err != nil || n != DateLen || d != tt.want {
				t.Fatalf("ParseDate = %d, %d, %v; want %d", d, n, err, tt.want)
			}
			if !d.Time().Equal(tt.time) {
				t.Fatalf("Time() = %v, want %v", d.Time(), tt.time)
			}
			if NewDate(tt.time) != tt.want {
				t.Fatalf("NewDate(%v) = %d, want %d", tt.time, NewDate(tt.time), tt.want)
			}
			out, _ := d.Append([]byte{0xee})
			if !bytes.Equal(out[1:], tt.in) || out[0] != 0xee || d.Len() != DateLen {
				t.Fatalf("Append = %x", out)
			}
			for i := range tt.in {
				if _, _, err := ParseDate(tt.in[:i]); !errors.Is(err, ErrTruncated) {
					t.Fatalf("ParseDate(%d bytes) = %v", i, err)
				}
			}
		})
	}
	if NewDate(time.Unix(-1, 0)) != 0 {
		t.Fatal("a time before 1970 must give the undefined Date")
	}
	if got := NewDate(time.Unix(1, 999_999_999)); got != 1999 {
		t.Fatalf("NewDate truncates to ms: got %d, want 1999", got)
	}
}

func TestStringCodec(t *testing.T) {
	for _, s := range []string{"", "NTCP2", strings.Repeat("x", MaxStringLen)} {
		enc, err := String(s).Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if enc[0] != byte(len(s)) || string(enc[1:]) != s || String(s).Len() != len(enc) {
			t.Fatalf("Append(%d bytes) = %x", len(s), enc[:min(len(enc), 8)])
		}
		got, n, err := ParseString(append(enc, 'z'))
		if err != nil || n != len(enc) || string(got) != s {
			t.Fatalf("ParseString = %q, %d, %v", got, n, err)
		}
		for i := range enc {
			if _, n, err := ParseString(enc[:i]); !errors.Is(err, ErrTruncated) || n != 0 {
				t.Fatalf("ParseString(%d of %d bytes) = %d, %v", i, len(enc), n, err)
			}
		}
	}
	if _, err := String(strings.Repeat("x", 256)).Append(nil); !errors.Is(err, ErrTooLong) {
		t.Fatalf("256-byte String: %v, want ErrTooLong", err)
	}
}

func TestParseMapping(t *testing.T) {
	tests := []struct {
		name    string
		in      string // hex
		want    []MappingEntry
		n       int
		wantErr error
	}{
		{name: "empty", in: "0000", n: 2},
		{name: "empty with trailing data", in: "0000ffff", n: 2},
		{
			// 2-byte size 7, then 01 'a' '=' 02 'b' 'c' ';'
			name: "one entry", in: "0007" + "0161" + "3d" + "026263" + "3b",
			want: []MappingEntry{{"a", "bc"}}, n: 9,
		},
		{
			name: "empty key and value", in: "0004" + "00" + "3d" + "00" + "3b",
			want: []MappingEntry{{"", ""}}, n: 6,
		},
		{
			// The value's length byte is ';' (59), far past the size.
			name: "missing value", in: "000a" + "01623d01313b" + "01613d3b" + "00",
			wantErr: ErrMalformed,
		},
		{
			// Order is kept even when it is not canonical.
			name: "unsorted kept", in: "000c" + "01623d01313b" + "01613d01323b",
			want: []MappingEntry{{"b", "1"}, {"a", "2"}}, n: 14,
		},
		{name: "wrong equals sign", in: "0006" + "01613e01313b", wantErr: ErrMalformed},
		{name: "missing semicolon", in: "0006" + "01613d01313a", wantErr: ErrMalformed},
		{name: "value runs past size", in: "0005" + "01613d0231" + "3b", wantErr: ErrMalformed},
		{name: "key runs past size", in: "0001" + "05", wantErr: ErrMalformed},
		{name: "size leaves a stray byte", in: "0007" + "01613d01313b" + "00", wantErr: ErrMalformed},
		{name: "duplicate key", in: "000c" + "01613d01313b" + "01613d01323b", wantErr: ErrDuplicateKey},
		{name: "declared size beyond input", in: "0010" + "01613d01313b", wantErr: ErrTruncated},
		{name: "no size", in: "00", wantErr: ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := mustHex(tt.in)
			m, n, err := ParseMapping(in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || n != 0 {
					t.Fatalf("ParseMapping = %v, %d, %v; want %v", m, n, err, tt.wantErr)
				}
				return
			}
			if err != nil || n != tt.n {
				t.Fatalf("ParseMapping = %d, %v; want %d", n, err, tt.n)
			}
			got := m.Entries()
			if len(got) != len(tt.want) || m.Count() != len(tt.want) {
				t.Fatalf("entries = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("entry %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
			out, err := m.Append(nil)
			if err != nil || !bytes.Equal(out, in[:n]) || m.Len() != n {
				t.Fatalf("Append = %x, %v; want %x", out, err, in[:n])
			}
			for i := range n {
				if _, _, err := ParseMapping(in[:i]); !errors.Is(err, ErrTruncated) {
					t.Fatalf("ParseMapping(%d of %d bytes) = %v, want ErrTruncated", i, n, err)
				}
			}
		})
	}
}

func TestNewMappingSortsLikeJava(t *testing.T) {
	// The options of an i2pd floodfill's RouterInfo (testdata/i2pd-ri,
	// router a), in the order i2pd wrote them: "netId" sorts before
	// "netdb..." because 'I' (0x49) < 'd' (0x64).
	kv := map[string]string{
		"router.version":       "0.9.57",
		"netdb.knownRouters":   "3",
		"netdb.knownLeaseSets": "0",
		"netId":                "99",
		"caps":                 "Of",
	}
	m, err := NewMapping(kv)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range m.Entries() {
		keys = append(keys, e.Key)
	}
	want := "caps netId netdb.knownLeaseSets netdb.knownRouters router.version"
	if strings.Join(keys, " ") != want {
		t.Fatalf("order %q, want %q", keys, want)
	}
	if !m.IsSorted() {
		t.Fatal("NewMapping result is not IsSorted")
	}
	if v, ok := m.Get("netId"); !ok || v != "99" {
		t.Fatalf("Get(netId) = %q, %v", v, ok)
	}
	if _, ok := m.Get("missing"); ok {
		t.Fatal("Get(missing) found something")
	}
	m2, err := m.With("caps", "XfR")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m2.Get("caps"); v != "XfR" || m2.Count() != 5 {
		t.Fatalf("With replaced caps with %q, count %d", v, m2.Count())
	}
	if v, _ := m.Get("caps"); v != "Of" {
		t.Fatal("With changed the original mapping")
	}
	m3, err := m.With("a", "1")
	if err != nil || m3.Entries()[0].Key != "a" || !m3.IsSorted() {
		t.Fatalf("With(a) = %v, %v", m3, err)
	}
	e := m.Entries()
	e[0].Key = "zzz"
	if m.Entries()[0].Key != "caps" {
		t.Fatal("Entries exposes internal storage")
	}
}

func TestCompareKeys(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"a", "b", -1},
		{"A", "a", -1},
		{"netId", "netdb.knownRouters", -1},
		{"", "a", -1},
		{"ab", "a", 1},
		{"caps", "caps", 0},
		{"i", "iexp0", -1},
		{"é", "z", 1}, // U+00E9 > U+007A
		// Java compares UTF-16 code units: U+FFFD is one unit 0xFFFD, U+1F600
		// starts with the high surrogate 0xD83D, so U+FFFD sorts after it,
		// the opposite of UTF-8 byte order (EF.. < F0..).
		{"\uFFFD", "\U0001F600", 1},
		{"\U0001F600", "\U0001F601", -1},
		{"\uE000", "\U00010000", 1},
		// Invalid UTF-8 falls back to byte order.
		{"\xff", "\xfe", 1},
	}
	for _, tt := range tests {
		if got := CompareKeys(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareKeys(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareKeys(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareKeys(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestMappingLimits(t *testing.T) {
	long := strings.Repeat("v", 256)
	if _, err := NewMapping(map[string]string{"k": long}); !errors.Is(err, ErrTooLong) {
		t.Fatalf("256-byte value: %v", err)
	}
	if _, err := NewMapping(map[string]string{long: "v"}); !errors.Is(err, ErrTooLong) {
		t.Fatalf("256-byte key: %v", err)
	}
	// 128 entries of 1+2+1+1+255+1 = 261 bytes = 33408 bytes fit; 252
	// entries (65772 bytes) do not fit the 2-byte size.
	kv := map[string]string{}
	for i := range 252 {
		kv[string([]byte{byte('a' + i/26), byte('a' + i%26)})] = strings.Repeat("v", 255)
	}
	if _, err := NewMapping(kv); !errors.Is(err, ErrTooLong) {
		t.Fatalf("65772-byte mapping: %v", err)
	}
	var zero Mapping
	out, err := zero.Append(nil)
	if err != nil || !bytes.Equal(out, []byte{0, 0}) || zero.Len() != 2 || !zero.IsSorted() {
		t.Fatalf("zero Mapping = %x, %v", out, err)
	}
	empty, err := NewMapping(nil)
	if err != nil || empty.Count() != 0 {
		t.Fatalf("NewMapping(nil) = %v, %v", empty, err)
	}
}

func TestMappingIsSorted(t *testing.T) {
	for _, tt := range []struct {
		hex  string
		want bool
	}{
		{"0000", true},
		{"000c01613d01313b01623d01323b", true},
		{"000c01623d01313b01613d01323b", false},
	} {
		m, _, err := ParseMapping(mustHex(tt.hex))
		if err != nil {
			t.Fatal(err)
		}
		if m.IsSorted() != tt.want {
			t.Errorf("%s: IsSorted = %v", tt.hex, !tt.want)
		}
	}
}

func FuzzMappingRoundTrip(f *testing.F) {
	f.Add(mustHex("0000"))
	f.Add(mustHex("000c01623d01313b01613d01323b"))
	f.Add(mustHex("000c01613d01313b01613d01323b"))
	f.Add(mustHex("00040361"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, n, err := ParseMapping(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error with n=%d", n)
			}
			return
		}
		out, err := m.Append(nil)
		if err != nil {
			t.Fatalf("parsed mapping does not append: %v", err)
		}
		if !bytes.Equal(out, b[:n]) || m.Len() != n {
			t.Fatalf("round trip: %x -> %x", b[:n], out)
		}
		// Re-sorting keeps the content and gives a canonical mapping.
		kv := map[string]string{}
		for _, e := range m.Entries() {
			kv[e.Key] = e.Value
		}
		s, err := NewMapping(kv)
		if err != nil || !s.IsSorted() || s.Len() != m.Len() || s.Count() != m.Count() {
			t.Fatalf("sorted copy: %v, %v", s, err)
		}
		if m.IsSorted() {
			sb, _ := s.Append(nil)
			if !bytes.Equal(sb, out) {
				t.Fatal("a sorted mapping re-sorts to different bytes")
			}
		}
	})
}
