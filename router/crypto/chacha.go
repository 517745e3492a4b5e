package crypto

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
)

// ChaCha20-Poly1305 sizes (RFC 8439 §2.8).
const (
	ChaChaKeySize   = chacha20poly1305.KeySize   // 32
	ChaChaNonceSize = chacha20poly1305.NonceSize // 12
	AEADTagSize     = chacha20poly1305.Overhead  // 16: the Poly1305 tag after the ciphertext
)

// Nonce returns I2P's 12-byte ChaCha20 nonce for counter n:
//
//	offset  size  value
//	0       4     00 00 00 00
//	4       8     n, little endian
//
// This is the Noise ChaChaPoly nonce (Noise rev 34 §12.3) and the layout
// ecies.rst §"3) AEAD (ChaChaPoly)" states for existing-session messages
// ("First four bytes are always zero. Last eight bytes are the message
// number (n), little-endian encoded"). The same layout carries the record
// index of short tunnel build records ("iv[4] = n",
// tunnel-creation-ecies.rst §"Record Encryption").
func Nonce(n uint64) [ChaChaNonceSize]byte {
	var nonce [ChaChaNonceSize]byte
	binary.LittleEndian.PutUint64(nonce[4:], n)
	return nonce
}

// AEAD is ChaCha20-Poly1305 (RFC 8439 §2.8) under one key, addressed by
// I2P's counter nonce. Keep one per key when sending many messages (the
// NTCP2 data phase, a ratchet tagset's keys); it is safe for concurrent use.
type AEAD struct {
	aead cipher.AEAD
}

// NewAEAD keys an AEAD.
func NewAEAD(key *[ChaChaKeySize]byte) *AEAD {
	a, err := chacha20poly1305.New(key[:])
	if err != nil {
		// New fails only on a key length other than 32.
		panic("crypto: chacha20poly1305: " + err.Error())
	}
	return &AEAD{aead: a}
}

// Seal appends ENCRYPT(k, n, plaintext, ad) — the ciphertext followed by the
// 16-byte tag — to dst and returns the result. ad may be nil (NTCP2 data
// frames have none). To encrypt in place use plaintext[:0] as dst; dst must
// not otherwise overlap plaintext.
func (a *AEAD) Seal(dst []byte, n uint64, plaintext, ad []byte) []byte {
	nonce := Nonce(n)
	return a.sealNonce(dst, &nonce, plaintext, ad)
}

// sealNonce is Seal with an explicit 12-byte nonce. Seal is its only caller
// outside tests: RFC 8439's own AEAD vector uses a nonce (07 00 00 00 ‖ IV)
// that I2P's layout never produces, and the tests run it through here.
func (a *AEAD) sealNonce(dst []byte, nonce *[ChaChaNonceSize]byte, plaintext, ad []byte) []byte {
	return a.aead.Seal(dst, nonce[:], plaintext, ad)
}

// Open authenticates and decrypts ciphertext‖tag and appends the plaintext to
// dst. It fails with ErrAuthFailed (and appends nothing) when the tag does
// not verify or the input is shorter than a tag. To decrypt in place use
// ciphertext[:0] as dst.
func (a *AEAD) Open(dst []byte, n uint64, ciphertext, ad []byte) ([]byte, error) {
	nonce := Nonce(n)
	return a.openNonce(dst, &nonce, ciphertext, ad)
}

// openNonce is Open with an explicit 12-byte nonce (see sealNonce).
func (a *AEAD) openNonce(dst []byte, nonce *[ChaChaNonceSize]byte, ciphertext, ad []byte) ([]byte, error) {
	if len(ciphertext) < AEADTagSize {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the tag", ErrAuthFailed, len(ciphertext))
	}
	out, err := a.aead.Open(dst, nonce[:], ciphertext, ad)
	if err != nil {
		return nil, fmt.Errorf("%w: nonce %x", ErrAuthFailed, nonce[4:])
	}
	return out, nil
}

// AEADSeal is NewAEAD(key).Seal(dst, n, plaintext, ad), for keys used once
// (handshake messages, tunnel build records).
func AEADSeal(key *[ChaChaKeySize]byte, n uint64, dst, plaintext, ad []byte) []byte {
	return NewAEAD(key).Seal(dst, n, plaintext, ad)
}

// AEADOpen is NewAEAD(key).Open(dst, n, ciphertext, ad).
func AEADOpen(key *[ChaChaKeySize]byte, n uint64, dst, ciphertext, ad []byte) ([]byte, error) {
	return NewAEAD(key).Open(dst, n, ciphertext, ad)
}

// ChaCha20XOR XORs src with the raw ChaCha20 key stream (RFC 8439 §2.4) for
// key and nonce, starting at block counter 1, and writes the result to dst
// (which may be src itself; it must be at least as long). Encryption and
// decryption are the same operation.
//
// Counter 1 is what encryptedleaseset.rst §"STREAM" specifies ("with the
// initial counter set to 1") and what i2pd's i2p::crypto::ChaCha20 always
// uses (Crypto.cpp: the OpenSSL IV is htole32(1) ‖ nonce). i2pd calls it for
// the records other than a hop's own in a short tunnel build reply
// (I2NPProtocol.cpp HandleShortTunnelBuildMsg, TunnelConfig.cpp
// ShortECIESTunnelHopConfig::DecryptRecord, nonce = Nonce(record index)),
// for encrypted LeaseSets (LeaseSet.cpp) and for SSU2 header protection.
// Block 0 is never used, as in the AEAD construction, where it yields the
// Poly1305 key.
func ChaCha20XOR(dst, src []byte, key *[ChaChaKeySize]byte, nonce *[ChaChaNonceSize]byte) {
	c, err := chacha20.NewUnauthenticatedCipher(key[:], nonce[:])
	if err != nil {
		// Only wrong key or nonce lengths fail, and the types rule them out.
		panic("crypto: chacha20: " + err.Error())
	}
	c.SetCounter(1)
	c.XORKeyStream(dst, src)
}
