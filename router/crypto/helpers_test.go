package crypto

import (
	"encoding/hex"
	"strings"
	"testing"
)

// unhex decodes a hex string that may contain spaces or newlines (so long
// vectors can be laid out as in their source).
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func unhex32(t testing.TB, s string) [32]byte {
	t.Helper()
	b := unhex(t, s)
	if len(b) != 32 {
		t.Fatalf("want 32 bytes, have %d in %q", len(b), s)
	}
	return [32]byte(b)
}

// seq returns the bytes from, from+1, … (n of them), the shape of many RFC
// test inputs.
func seq(from byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}
