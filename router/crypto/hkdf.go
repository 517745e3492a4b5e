package crypto

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// HKDFMaxLen is the longest output HKDF-SHA256 can produce (RFC 5869 §2.3:
// L <= 255*HashLen).
const HKDFMaxLen = 255 * sha256.Size

// HKDF is RFC 5869 HKDF with HMAC-SHA256, with the arguments in the order the
// I2P specs write them: HKDF(salt, ikm, info, n) (ecies.rst §"Definitions",
// ntcp2.rst §"Key Derivation Function (KDF) (for handshake message 1)").
//
// It exists so that no other code calls an HKDF: Go's crypto/hkdf takes the
// secret first and the salt second, and swapping them silently derives
// different keys that no peer shares. In I2P the salt is nearly always a
// chaining key and the ikm a DH result or ZEROLEN; an empty ikm is legal and
// common (Split, the "ask" and tagset derivations).
//
// n must be between 0 and HKDFMaxLen; anything else is a programming error
// and panics. HKDF also panics in Go's FIPS 140-only mode when ikm is shorter
// than 14 bytes, which I2P's ZEROLEN inputs always are: that mode forbids
// ChaCha20-Poly1305 too, so an I2P router cannot run in it anyway.
func HKDF(salt, ikm []byte, info string, n int) []byte {
	if n < 0 || n > HKDFMaxLen {
		panic(fmt.Sprintf("crypto: HKDF output length %d out of range [0, %d]", n, HKDFMaxLen))
	}
	out, err := hkdf.Key(sha256.New, ikm, salt, info, n)
	if err != nil {
		panic(fmt.Sprintf("crypto: HKDF: %v", err))
	}
	return out
}

// HKDF64 is HKDF(salt, ikm, info, 64) split into its two 32-byte halves, the
// shape nearly every I2P KDF uses: MixKey (new ck, k), Split (k_ab, k_ba),
// the tunnel build chain (ck, key) and the ratchet KDFs.
func HKDF64(salt, ikm []byte, info string) (first, second [32]byte) {
	out := HKDF(salt, ikm, info, 64)
	copy(first[:], out[:32])
	copy(second[:], out[32:])
	return first, second
}
