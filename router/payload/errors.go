package payload

import "errors"

// Sentinel errors. Parse and Append wrap them with what was found, so
// errors.Is works and the message says what is wrong.
var (
	// ErrTruncated reports input that ends inside the gzip header, the
	// deflate data or the 8-byte trailer.
	ErrTruncated = errors.New("payload: truncated")
	// ErrNotGzip reports input that does not start with the gzip magic
	// 1F 8B and compression method 8 (deflate).
	ErrNotGzip = errors.New("payload: not a gzip stream")
	// ErrMalformed reports a gzip header with reserved flag bits set, or
	// deflate data that RFC 1951 does not allow (a stored block whose
	// NLEN is not the complement of LEN, an invalid Huffman code, ...).
	ErrMalformed = errors.New("payload: malformed gzip stream")
	// ErrChecksum reports a CRC-32 (of the data, or the optional header
	// CRC-16) that does not match. The CRC is the payload's only integrity
	// check.
	ErrChecksum = errors.New("payload: checksum mismatch")
	// ErrLengthMismatch reports an ISIZE trailer field that does not match
	// the decompressed length.
	ErrLengthMismatch = errors.New("payload: length mismatch")
	// ErrTooLarge reports decompressed data longer than the limit given to
	// Parse. Decompression stops as soon as the limit is passed, so a
	// small payload cannot make Parse allocate or work without bound.
	ErrTooLarge = errors.New("payload: decompressed data too large")
	// ErrTrailingBytes reports bytes after the gzip trailer.
	ErrTrailingBytes = errors.New("payload: trailing bytes")
	// ErrInvalid reports an argument Append cannot encode (a compression
	// level compress/flate does not know).
	ErrInvalid = errors.New("payload: invalid argument")
)
