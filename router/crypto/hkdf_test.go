package crypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// RFC 5869 Appendix A, test cases 1-3 (the SHA-256 ones).
func TestHKDFMatchesRFC5869(t *testing.T) {
	tests := []struct {
		name            string
		ikm, salt, info []byte
		n               int
		okm             string
	}{
		{
			name: "A.1 basic",
			ikm:  bytes.Repeat([]byte{0x0b}, 22),
			salt: seq(0x00, 13),
			info: seq(0xf0, 10),
			n:    42,
			okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf" +
				"34007208d5b887185865",
		},
		{
			name: "A.2 long inputs and output",
			ikm:  seq(0x00, 80),
			salt: seq(0x60, 80),
			info: seq(0xb0, 80),
			n:    82,
			okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c" +
				"59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71" +
				"cc30c58179ec3e87c14c01d5c1f3434f1d87",
		},
		{
			name: "A.3 zero-length salt and info",
			ikm:  bytes.Repeat([]byte{0x0b}, 22),
			salt: nil,
			info: nil,
			n:    42,
			okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d" +
				"9d201395faa4b61a96c8",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := HKDF(tc.salt, tc.ikm, string(tc.info), tc.n)
			if want := unhex(t, tc.okm); !bytes.Equal(got, want) {
				t.Fatalf("HKDF = %x\nwant   %x", got, want)
			}
		})
	}
}

// The trap this wrapper exists for: the spec's HKDF(salt, ikm, …) must not be
// Go's hkdf.Key(h, secret=salt, salt=ikm, …). Swapping the first two
// arguments of RFC 5869 case 1 must give a different key.
func TestHKDFArgumentOrderMatters(t *testing.T) {
	salt, ikm := seq(0x00, 13), bytes.Repeat([]byte{0x0b}, 22)
	if bytes.Equal(HKDF(salt, ikm, "", 32), HKDF(ikm, salt, "", 32)) {
		t.Fatal("HKDF is symmetric in salt and ikm; the argument order is not being honoured")
	}
}

// An empty IKM is legal and everywhere in I2P (Split, "ask", tagsets): the
// extract step is then HMAC(salt, "") (i2pd Crypto.cpp HKDF, "zerolen"), and
// nil and empty must agree.
func TestHKDFAcceptsEmptyIKM(t *testing.T) {
	salt := seq(0x20, 32)
	mac := hmac.New(sha256.New, salt)
	prk := mac.Sum(nil) // extract with ikm = ""
	exp := hmac.New(sha256.New, prk)
	exp.Write([]byte("ask\x01"))
	want := exp.Sum(nil)

	if got := HKDF(salt, nil, "ask", 32); !bytes.Equal(got, want) {
		t.Fatalf("HKDF(salt, nil, ask) = %x, want %x", got, want)
	}
	if got := HKDF(salt, []byte{}, "ask", 32); !bytes.Equal(got, want) {
		t.Fatalf("HKDF(salt, [], ask) = %x, want %x", got, want)
	}
}

func TestHKDF64SplitsTheOutput(t *testing.T) {
	salt, ikm := seq(1, 32), seq(100, 32)
	full := HKDF(salt, ikm, "SessionReplyTags", 64)
	a, b := HKDF64(salt, ikm, "SessionReplyTags")
	if !bytes.Equal(a[:], full[:32]) || !bytes.Equal(b[:], full[32:]) {
		t.Fatalf("HKDF64 halves %x %x do not match HKDF output %x", a, b, full)
	}
}

func TestHKDFRejectsImpossibleLengths(t *testing.T) {
	for _, n := range []int{-1, HKDFMaxLen + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("HKDF(n=%d) did not panic", n)
				}
			}()
			HKDF(nil, nil, "", n)
		}()
	}
	if got := len(HKDF(nil, nil, "", HKDFMaxLen)); got != HKDFMaxLen {
		t.Fatalf("HKDF(n=max) returned %d bytes", got)
	}
}
