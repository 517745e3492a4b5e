package datagram

import "errors"

// Sentinel errors. Functions wrap them with the numbers involved; errors
// from package data (data.ErrUnsupportedSigType, data.ErrUnknownSigType,
// data.ErrTruncated inside a destination, data.ErrBadSignature) are wrapped
// too, so errors.Is works for both.
var (
	// ErrTruncated reports a repliable datagram that ends inside its
	// destination or signature.
	ErrTruncated = errors.New("datagram: truncated")
	// ErrTooLarge reports a datagram longer than MaxLen.
	ErrTooLarge = errors.New("datagram: too large")
	// ErrBadSignature reports a repliable datagram whose signature does not
	// verify with the sender's signing key.
	ErrBadSignature = errors.New("datagram: bad signature")
	// ErrInvalid reports a Signer that cannot sign a datagram: no
	// destination, or a signature of the wrong length.
	ErrInvalid = errors.New("datagram: invalid signer")
)
