package data

import (
	"crypto/sha256"
	"fmt"
)

// HashLen is the length of an I2P Hash (SHA-256).
const HashLen = 32

// Hash is a SHA-256 digest: a destination or router identity hash, a
// netDb key.
type Hash [HashLen]byte

// HashOf returns SHA-256(b).
func HashOf(b []byte) Hash {
	return sha256.Sum256(b)
}

// ParseHash reads a 32-byte Hash from the start of b.
func ParseHash(b []byte) (Hash, int, error) {
	var h Hash
	if len(b) < HashLen {
		return h, 0, fmt.Errorf("%w: hash needs %d bytes, have %d", ErrTruncated, HashLen, len(b))
	}
	copy(h[:], b)
	return h, HashLen, nil
}

// Append appends the 32 hash bytes to b.
func (h Hash) Append(b []byte) ([]byte, error) {
	return append(b, h[:]...), nil
}

// Len is always HashLen.
func (h Hash) Len() int { return HashLen }

// IsZero reports whether h is all zeros.
func (h Hash) IsZero() bool { return h == Hash{} }

// Base64 returns h in I2P base64 (44 characters).
func (h Hash) Base64() string { return Base64Encode(h[:]) }

// B32 returns the ".b32.i2p" name of h.
func (h Hash) B32() string { return Base32Encode(h[:]) + B32Suffix }

// String returns the base64 form, the way I2P logs and netDb file names
// show hashes.
func (h Hash) String() string { return h.Base64() }

// Short returns the first 6 base64 characters, enough to tell peers apart
// in logs without recording full identities.
func (h Hash) Short() string { return h.Base64()[:6] }
