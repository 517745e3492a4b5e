package i2np

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// Vectors in these tests are assembled by hand from the layouts in
// i2np.rst and tunnel-creation-ecies.rst, field by field, with the field
// named next to each part; nothing here is produced by the code under test.

// hx decodes hex, ignoring spaces, so vectors can be grouped by field.
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// cat concatenates fields.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// rep is n copies of byte c.
func rep(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

// seq is n bytes counting up from start.
func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// codec is what every Parse result offers.
type codec interface {
	Append(b []byte) ([]byte, error)
	Len() int
}

// mustRoundTrip parses b with parse, requires it to use want bytes, and
// requires Append and Len to reproduce them. It returns the parsed value.
func mustRoundTrip[T codec](t *testing.T, parse func([]byte) (T, int, error), b []byte, want int) T {
	t.Helper()
	x, n, err := parse(b)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if n != want {
		t.Fatalf("parse used %d bytes, want %d", n, want)
	}
	if x.Len() != n {
		t.Fatalf("Len() = %d, parse used %d", x.Len(), n)
	}
	// Append after a prefix, to catch encoders that assume an empty b.
	out, err := x.Append([]byte{0xAA})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if out[0] != 0xAA || !bytes.Equal(out[1:], b[:n]) {
		t.Fatalf("append mismatch:\n got %x\nwant %x", out[1:], b[:n])
	}
	return x
}

// allPrefixesTruncated feeds every proper prefix of b to parse and requires
// ErrTruncated, without a panic.
func allPrefixesTruncated[T any](t *testing.T, parse func([]byte) (T, int, error), b []byte) {
	t.Helper()
	prefixesTruncated(t, parse, b, len(b))
}

// prefixesTruncated requires ErrTruncated for every prefix shorter than
// upTo (for parsers whose last field runs to the end of the input).
func prefixesTruncated[T any](t *testing.T, parse func([]byte) (T, int, error), b []byte, upTo int) {
	t.Helper()
	for i := 0; i < upTo; i++ {
		_, n, err := parse(b[:i:i])
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix of %d/%d bytes: err = %v (n=%d), want ErrTruncated", i, len(b), err, n)
		}
		if n != 0 {
			t.Fatalf("prefix of %d bytes: n = %d on error", i, n)
		}
	}
}

// fuzzRoundTrip is the body of every round-trip fuzz target: whatever
// parses must append back to exactly the bytes it used.
func fuzzRoundTrip[T codec](t *testing.T, parse func([]byte) (T, int, error), b []byte) {
	x, n, err := parse(b)
	if err != nil {
		if n != 0 {
			t.Fatalf("n = %d on error %v", n, err)
		}
		return
	}
	if n < 0 || n > len(b) {
		t.Fatalf("n = %d outside input of %d", n, len(b))
	}
	if x.Len() != n {
		t.Fatalf("Len() = %d, parse used %d", x.Len(), n)
	}
	out, err := x.Append(nil)
	if err != nil {
		t.Fatalf("append after successful parse: %v", err)
	}
	if !bytes.Equal(out, b[:n]) {
		t.Fatalf("round trip mismatch:\n got %x\nwant %x", out, b[:n])
	}
}
