package data

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestBase64EncodeKnownValues(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		// RFC 4648 §10 vectors; they use no '+' or '/', so they are unchanged.
		{"rfc4648 empty", nil, ""},
		{"rfc4648 f", []byte("f"), "Zg=="},
		{"rfc4648 fo", []byte("fo"), "Zm8="},
		{"rfc4648 foo", []byte("foo"), "Zm9v"},
		{"rfc4648 foob", []byte("foob"), "Zm9vYg=="},
		{"rfc4648 fooba", []byte("fooba"), "Zm9vYmE="},
		{"rfc4648 foobar", []byte("foobar"), "Zm9vYmFy"},
		// i2pd tests/test-base-64.cpp (2.45.0).
		{"i2pd test", []byte("test"), "dGVzdA=="},
		// Standard "+/+/" and "+A==", "/A==" mapped to the I2P alphabet.
		{"plus and slash", []byte{0xfb, 0xff, 0xbf}, "-~-~"},
		{"plus", []byte{0xf8}, "-A=="},
		{"slash", []byte{0xfc}, "~A=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Base64Encode(tt.in); got != tt.want {
				t.Fatalf("Base64Encode(%x) = %q, want %q", tt.in, got, tt.want)
			}
			got, err := Base64Decode(tt.want)
			if err != nil {
				t.Fatalf("Base64Decode(%q): %v", tt.want, err)
			}
			if !bytes.Equal(got, tt.in) {
				t.Fatalf("Base64Decode(%q) = %x, want %x", tt.want, got, tt.in)
			}
		})
	}
}

func TestBase64DecodeRejectsNonCanonicalInput(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"i2pd: not padded", "dGVzdA="},
		{"i2pd: char not from alphabet", "dG/z.A=="},
		{"missing padding", "Zg"},
		{"standard alphabet plus", "+A=="},
		{"standard alphabet slash", "/A=="},
		{"nonzero trailing bits", "Zh=="},
		{"line break", "Zg==\n"},
		{"carriage return inside", "Zm9v\rYmFy"},
		{"space", "Zm9v YmFy"},
		{"data after padding", "Zg==Zg=="},
		{"only padding", "===="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Base64Decode(tt.in)
			if !errors.Is(err, ErrBase64) {
				t.Fatalf("Base64Decode(%q) = %x, %v; want ErrBase64", tt.in, got, err)
			}
		})
	}
}

func TestHashB32KnownValues(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		// base32 of the SHA-256 vectors, computed independently with Python's
		// base64.b32encode.
		{"", "4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq.b32.i2p"},
		{"abc", "xj4bnp4pahh6uqkbidpf3lrceoyagyndsylxvhfucd7wd4qacwwq.b32.i2p"},
	}
	for _, tt := range tests {
		h := HashOf([]byte(tt.in))
		if got := h.B32(); got != tt.want {
			t.Errorf("HashOf(%q).B32() = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseB32(tt.want)
		if err != nil || back != h {
			t.Errorf("ParseB32(%q) = %x, %v; want %x", tt.want, back, err, h)
		}
	}
}

func TestParseB32(t *testing.T) {
	const valid = "4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq.b32.i2p"
	want := HashOf(nil)
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"lower case", valid, nil},
		{"upper case", strings.ToUpper(valid), nil},
		{"mixed case", "4OYMIQUY7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq.B32.I2p", nil},
		{"no suffix", strings.TrimSuffix(valid, ".b32.i2p"), ErrB32},
		{"plain .i2p", "4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq.i2p", ErrB32},
		{"suffix only", ".b32.i2p", ErrB32},
		{"empty", "", ErrB32},
		{"51 chars", valid[1:], ErrB32},
		{"53 chars", "a" + valid, ErrB32},
		{"55 chars", "aaa" + valid, ErrB32},
		{"56 chars encrypted LS", "aaaa" + valid, ErrEncryptedB32},
		{"60 chars encrypted LS", "aaaaaaaa" + valid, ErrEncryptedB32},
		{"digit 1 not in alphabet", "1" + valid[1:], ErrB32},
		{"padding char", "=" + valid[1:], ErrB32},
		// 52 characters carry 260 bits; 'r' sets one of the 4 spare bits.
		{"nonzero trailing bits", strings.Replace(valid, "bkq.", "bkr.", 1), ErrB32},
		{"trailing dot", valid + ".", ErrB32},
		// U+212A KELVIN SIGN lower-cases to 'k' under Unicode rules.
		{"kelvin sign", "4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxb\u212aq.b32.i2p", ErrB32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseB32(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseB32(%q) = %x, %v; want %v", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseB32(%q): %v", tt.in, err)
			}
			if got != want {
				t.Fatalf("ParseB32(%q) = %x, want %x", tt.in, got, want)
			}
		})
	}
}

func TestEncryptedB32ErrorIsNotPlainB32Error(t *testing.T) {
	// Callers (the naming layer) tell users "encrypted LeaseSets are not
	// supported" rather than "malformed name"; keep the two apart.
	_, err := ParseB32(strings.Repeat("a", 56) + ".b32.i2p")
	if errors.Is(err, ErrB32) {
		t.Fatalf("56-char name reported as ErrB32: %v", err)
	}
}

func TestParseHashTruncated(t *testing.T) {
	b := bytes.Repeat([]byte{7}, HashLen)
	for i := range len(b) {
		if _, _, err := ParseHash(b[:i]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("ParseHash(%d bytes) = %v, want ErrTruncated", i, err)
		}
	}
	h, n, err := ParseHash(append(b, 1))
	if err != nil || n != HashLen || h != Hash(b) {
		t.Fatalf("ParseHash = %x, %d, %v", h, n, err)
	}
	out, _ := h.Append([]byte{9})
	if !bytes.Equal(out, append([]byte{9}, b...)) {
		t.Fatalf("Append = %x", out)
	}
}

func FuzzBase64RoundTrip(f *testing.F) {
	for _, s := range []string{"", "Zg==", "Zm9vYmFy", "-~-~", "dGVzdA=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Base64Decode(s)
		if err != nil {
			return
		}
		if got := Base64Encode(b); got != s {
			t.Fatalf("Base64Decode(%q) accepted a non-canonical form of %q", s, got)
		}
	})
}

func FuzzParseB32(f *testing.F) {
	f.Add("4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq.b32.i2p")
	f.Add("XJ4BNP4PAHH6UQKBIDPF3LRCEOYAGYNDSYLXVHFUCD7WD4QACWWQ.B32.I2P")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseB32(s)
		if err != nil {
			return
		}
		if len(s) != len(h.B32()) || !strings.EqualFold(h.B32(), s) {
			t.Fatalf("ParseB32(%q) = %s", s, h.B32())
		}
	})
}
