package data

import "errors"

// Sentinel errors of the netDb structures (Mapping, RouterAddress,
// RouterInfo, LeaseSet2). Parsers and builders wrap them with the field and
// the offending numbers.
var (
	// ErrMalformed reports bytes that are present but do not follow the
	// structure's layout: a Mapping entry without '=' or ';', a Mapping
	// whose entries do not fill its declared size, a LeaseSet2 without
	// encryption keys or with more than 16 leases, a key whose length does
	// not match its type.
	ErrMalformed = errors.New("data: malformed structure")
	// ErrDuplicateKey reports a Mapping that names the same key twice.
	// Every Mapping on the wire is signed or sits inside signed data, where
	// common-structures.rst "Mapping" forbids duplicates (Java I2P refuses
	// them too).
	ErrDuplicateKey = errors.New("data: duplicate mapping key")
	// ErrUnsortedMapping reports a Mapping that is not in key order where a
	// structure is about to be signed.
	ErrUnsortedMapping = errors.New("data: mapping keys are not sorted")
	// ErrTooLong reports a value that does not fit its length field or a
	// network limit: a String over 255 bytes, a Mapping over 65535 bytes, a
	// RouterInfo or LeaseSet over 3072 bytes.
	ErrTooLong = errors.New("data: too long")
	// ErrNonzeroExpiration reports a RouterAddress with a nonzero expiration
	// about to be written; common-structures.rst "RouterAddress" requires
	// all zeros.
	ErrNonzeroExpiration = errors.New("data: router address expiration must be zero")
	// ErrOption reports a missing or invalid option value (netId, NTCP2
	// host/port/s/i, ...).
	ErrOption = errors.New("data: missing or invalid option")
	// ErrBadTime reports a timestamp that the wire field cannot carry.
	ErrBadTime = errors.New("data: time out of range")
)
