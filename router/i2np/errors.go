package i2np

import "errors"

// Sentinel errors. Parsers and Append methods wrap them with the structure
// and the numbers involved, so errors.Is works and the message says what is
// wrong.
var (
	// ErrTruncated reports input that ends inside a header, a fixed field
	// or a length-prefixed field.
	ErrTruncated = errors.New("i2np: truncated")
	// ErrTrailingBytes reports bytes left after a body that must fill its
	// payload exactly.
	ErrTrailingBytes = errors.New("i2np: trailing bytes")
	// ErrChecksum reports a standard header whose checksum byte is not the
	// first byte of SHA-256(payload).
	ErrChecksum = errors.New("i2np: bad checksum")
	// ErrTooLarge reports a payload, list or length beyond its limit
	// (MaxPayloadLen, MaxExcludedPeers, a 1- or 2-byte length field).
	ErrTooLarge = errors.New("i2np: too large")
	// ErrRecordCount reports a build message whose record count is not
	// 1-8.
	ErrRecordCount = errors.New("i2np: bad build record count")
	// ErrMalformed reports fields that contradict each other in the input,
	// such as an options Mapping that overruns its build record.
	ErrMalformed = errors.New("i2np: malformed")
	// ErrInvalid reports a struct that cannot be encoded as it is, such as
	// reply fields without a reply token or padding of the wrong length.
	ErrInvalid = errors.New("i2np: invalid value")
	// ErrUnsupported reports a valid-looking encoding this package refuses
	// on purpose (garlic clove session keys and delays).
	ErrUnsupported = errors.New("i2np: unsupported")
)
