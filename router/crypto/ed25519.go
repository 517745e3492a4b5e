package crypto

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
)

// Ed25519 sizes (RFC 8032 §5.1.5, §5.1.6).
const (
	Ed25519SeedSize      = ed25519.SeedSize      // 32: the private key as stored
	Ed25519PublicKeySize = ed25519.PublicKeySize // 32
	Ed25519SignatureSize = ed25519.SignatureSize // 64
)

// Ed25519Key is an Ed25519 (signature type 7) signing key. I2P stores and
// transmits the 32-byte RFC 8032 seed (i2pd and Java key files, SAM private
// keys), not Go's 64-byte seed‖public form, so the seed is what comes in and
// what Seed gives back; the expanded key is derived once and kept for
// signing.
type Ed25519Key struct {
	priv ed25519.PrivateKey
}

// NewEd25519Key expands a 32-byte seed.
func NewEd25519Key(seed [Ed25519SeedSize]byte) *Ed25519Key {
	return &Ed25519Key{priv: ed25519.NewKeyFromSeed(seed[:])}
}

// GenerateEd25519Key reads a 32-byte seed from r (crypto/rand.Reader when r
// is nil).
func GenerateEd25519Key(r io.Reader) (*Ed25519Key, error) {
	if r == nil {
		r = rand.Reader
	}
	var seed [Ed25519SeedSize]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, fmt.Errorf("%w: generate Ed25519 key: %w", ErrShortRead, err)
	}
	return NewEd25519Key(seed), nil
}

// Seed returns the 32-byte seed, the form to store.
func (k *Ed25519Key) Seed() [Ed25519SeedSize]byte {
	var s [Ed25519SeedSize]byte
	copy(s[:], k.priv.Seed())
	return s
}

// Public returns the 32-byte public key (RFC 8032 encoding, little endian).
func (k *Ed25519Key) Public() [Ed25519PublicKeySize]byte {
	var p [Ed25519PublicKeySize]byte
	copy(p[:], k.priv[ed25519.SeedSize:])
	return p
}

// Sign returns the pure Ed25519 signature of msg (no prehash: I2P's
// signature type 7 signs the message bytes themselves).
func (k *Ed25519Key) Sign(msg []byte) [Ed25519SignatureSize]byte {
	var s [Ed25519SignatureSize]byte
	copy(s[:], ed25519.Sign(k.priv, msg))
	return s
}

// Ed25519Verify reports whether sig is a valid signature of msg by pub. A
// signature of the wrong length is simply invalid.
func Ed25519Verify(pub [Ed25519PublicKeySize]byte, msg, sig []byte) bool {
	if len(sig) != Ed25519SignatureSize {
		return false
	}
	return ed25519.Verify(pub[:], msg, sig)
}
