package data

import (
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// i2pAlphabet is RFC 4648 base64 with '-' and '~' replacing '+' and '/'
// (common-structures.rst "Common type specification"), so that the text is
// safe in URLs and file names.
const i2pAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~"

// b64 is strict so that every accepted string has exactly one byte
// representation; otherwise two different strings could name the same
// destination.
var b64 = base64.NewEncoding(i2pAlphabet).WithPadding(base64.StdPadding).Strict()

// b32 is the lowercase, unpadded alphabet of ".b32.i2p" names.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// B32Suffix ends every base32 destination name.
const B32Suffix = ".b32.i2p"

// b32HashLen is the length of base32(32-byte hash) without padding.
const b32HashLen = 52

var (
	// ErrBase64 reports text that is not valid padded I2P base64.
	ErrBase64 = errors.New("data: invalid I2P base64")
	// ErrB32 reports a malformed ".b32.i2p" name.
	ErrB32 = errors.New("data: invalid .b32.i2p name")
	// ErrEncryptedB32 reports a 56+ character ".b32.i2p" name, which names an
	// encrypted (blinded) LeaseSet rather than a destination hash.
	ErrEncryptedB32 = errors.New("data: encrypted-LeaseSet .b32.i2p names are not supported")
)

// Base64Encode returns b in padded I2P base64.
func Base64Encode(b []byte) string {
	return b64.EncodeToString(b)
}

// Base64Decode decodes padded I2P base64. Whitespace, the standard '+' '/'
// characters and missing padding are rejected.
func Base64Decode(s string) ([]byte, error) {
	// encoding/base64 silently drops '\r' and '\n'; refuse them so that a
	// string is accepted only in its one canonical form.
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%w: contains a line break", ErrBase64)
	}
	out, err := b64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBase64, err)
	}
	return out, nil
}

// Base32Encode returns b in lowercase unpadded base32, the encoding of
// ".b32.i2p" names.
func Base32Encode(b []byte) string {
	return b32.EncodeToString(b)
}

// ParseB32 parses "<52 base32 characters>.b32.i2p" into the destination hash
// it names. Upper-case input is accepted (DNS names are case-insensitive);
// the 56+ character encrypted-LeaseSet form is refused with
// ErrEncryptedB32.
func ParseB32(name string) (Hash, error) {
	// ASCII-only lowering: strings.ToLower would turn the Kelvin sign
	// U+212A into 'k' and let a different string name the same hash.
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return Hash{}, fmt.Errorf("%w: %q contains non-ASCII bytes", ErrB32, name)
		}
	}
	lower := strings.ToLower(name)
	label, ok := strings.CutSuffix(lower, B32Suffix)
	if !ok {
		return Hash{}, fmt.Errorf("%w: %q does not end in %s", ErrB32, name, B32Suffix)
	}
	switch {
	case len(label) >= 56:
		return Hash{}, fmt.Errorf("%w: %q has %d characters", ErrEncryptedB32, name, len(label))
	case len(label) != b32HashLen:
		return Hash{}, fmt.Errorf("%w: %q has %d characters before %s, want %d", ErrB32, name, len(label), B32Suffix, b32HashLen)
	}
	raw, err := b32.DecodeString(label)
	if err != nil {
		return Hash{}, fmt.Errorf("%w: %q: %w", ErrB32, name, err)
	}
	// 52 characters carry 260 bits; the last 4 must be zero or the name is
	// a non-canonical alias of another one.
	var h Hash
	copy(h[:], raw)
	if h.B32() != lower {
		return Hash{}, fmt.Errorf("%w: %q has nonzero trailing bits", ErrB32, name)
	}
	return h, nil
}
