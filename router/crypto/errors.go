package crypto

import "errors"

// Sentinel errors. Functions wrap them with the operation that failed, so
// errors.Is works and the message says where.
var (
	// ErrAuthFailed reports a ChaCha20-Poly1305 ciphertext whose tag does
	// not verify (wrong key, nonce, associated data, or tampered bytes).
	ErrAuthFailed = errors.New("crypto: message authentication failed")
	// ErrLowOrderPoint reports an X25519 exchange whose shared secret is
	// all zeros: the peer's key is a low-order point (or zero), which would
	// let anyone predict the secret. This is the check RFC 7748 §6.1
	// describes; ntcp2.rst (§"1) SessionRequest", notes) requires peer keys
	// to be validated.
	ErrLowOrderPoint = errors.New("crypto: X25519 shared secret is all zeros")
	// ErrNonceExhausted reports a Noise cipher state whose counter reached
	// 2^64-1, the value Noise reserves (Noise rev 34 §5.1).
	ErrNonceExhausted = errors.New("crypto: nonce exhausted")
	// ErrNoKey reports a Noise operation that needs a cipher key before
	// MixKey has run.
	ErrNoKey = errors.New("crypto: no cipher key")
	// ErrBlockSize reports AES-CBC input that is not a whole number of
	// 16-byte blocks, or a destination shorter than the source.
	ErrBlockSize = errors.New("crypto: bad block length")
	// ErrShortRead reports a random source that ran dry while generating a
	// key.
	ErrShortRead = errors.New("crypto: random source failed")
)
