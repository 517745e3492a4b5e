package data

import "errors"

// Sentinel errors. Parsers wrap them with the structure and the offending
// numbers, so errors.Is works and the message says what is wrong.
var (
	// ErrTruncated reports input that ends inside a structure.
	ErrTruncated = errors.New("data: truncated")
	// ErrTrailingBytes reports bytes left over after a structure that must
	// fill its whole input (a base64 Destination, a key file).
	ErrTrailingBytes = errors.New("data: trailing bytes")
	// ErrCertificate reports a certificate whose payload is inconsistent
	// with its type (for example a KEY certificate shorter than 4 bytes).
	ErrCertificate = errors.New("data: bad certificate")
	// ErrUnknownSigType reports a signing type whose key lengths this
	// package does not know, at the point where the key is needed.
	ErrUnknownSigType = errors.New("data: unknown signing type")
	// ErrUnsupportedSigType reports a known signing type that this module
	// cannot sign or verify with (only Ed25519 is implemented).
	ErrUnsupportedSigType = errors.New("data: unsupported signing type")
	// ErrUnsupportedCryptoType reports a crypto type whose key is needed but
	// whose length or algorithm this package does not handle.
	ErrUnsupportedCryptoType = errors.New("data: unsupported crypto type")
	// ErrOfflineKeys reports an offline-signed private key file (all-zero
	// signing private key followed by a transient key), which this module
	// refuses; see the package documentation.
	ErrOfflineKeys = errors.New("data: offline-signed private keys are not supported")
	// ErrTextKeyFile reports a key file that holds the base64 text form (as
	// SAM prints it) instead of the binary form i2pd and Java read.
	ErrTextKeyFile = errors.New("data: key file holds base64 text, not the binary key format")
	// ErrBadSignature reports a signature that does not verify.
	ErrBadSignature = errors.New("data: signature verification failed")
	// ErrKeyMismatch reports a private key that does not belong to the
	// public key stored next to it.
	ErrKeyMismatch = errors.New("data: private key does not match public key")
)
