package garlic

import "errors"

// Sentinel errors. Functions wrap them with the operation and the numbers
// involved, so errors.Is works and the message says what went wrong.
var (
	// ErrTruncated reports input that ends inside a block, a key or a tag.
	ErrTruncated = errors.New("garlic: truncated")
	// ErrMalformed reports blocks or cloves that do not parse as a payload.
	ErrMalformed = errors.New("garlic: malformed payload")
	// ErrTooLarge reports a block, clove or message beyond its size field.
	ErrTooLarge = errors.New("garlic: too large")
	// ErrDecrypt reports a message that no key opens: a bad Poly1305 tag, a
	// low-order ephemeral key, or a tag-only message whose key is wrong.
	ErrDecrypt = errors.New("garlic: decryption failed")
	// ErrStale reports an N message whose DateTime is missing or outside
	// the accepted window (ecies-routers.rst §"Payload": "All messages must
	// contain a DateTime block for replay prevention").
	ErrStale = errors.New("garlic: stale or undated message")
	// ErrReplay reports an N message whose ephemeral key was seen before.
	ErrReplay = errors.New("garlic: replayed message")
	// ErrTagTableFull reports a tag that does not fit the table's limit.
	ErrTagTableFull = errors.New("garlic: tag table full")
	// ErrDuplicateTag reports a tag that is already registered.
	ErrDuplicateTag = errors.New("garlic: duplicate tag")
)
