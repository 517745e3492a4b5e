package data

import (
	"encoding/binary"
	"fmt"
	"time"
)

// DateLen is the encoded length of a Date.
const DateLen = 8

// Date is milliseconds since 1970-01-01 UTC, encoded as an 8-byte
// big-endian Integer; 0 means "undefined" (common-structures.rst
// "Date"). RouterInfo's published time and RouterAddress's expiration are
// Dates; LeaseSet2 uses 4-byte seconds instead.
type Date uint64

// NewDate returns t as a Date, truncated to the millisecond. The zero time
// and times before 1970 give 0, the undefined Date.
func NewDate(t time.Time) Date {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return Date(t.UnixMilli())
}

// ParseDate reads a Date from the start of b.
func ParseDate(b []byte) (Date, int, error) {
	if len(b) < DateLen {
		return 0, 0, fmt.Errorf("%w: date needs %d bytes, have %d", ErrTruncated, DateLen, len(b))
	}
	return Date(binary.BigEndian.Uint64(b)), DateLen, nil
}

// Append appends the 8-byte encoding of d to b.
func (d Date) Append(b []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint64(b, uint64(d)), nil
}

// Len is always DateLen.
func (d Date) Len() int { return DateLen }

// IsZero reports whether d is the undefined Date 0.
func (d Date) IsZero() bool { return d == 0 }

// Time returns d as a UTC time; the undefined Date gives the zero
// time.Time. Values beyond time.Time's range (after the year 292 million)
// saturate.
func (d Date) Time() time.Time {
	if d == 0 {
		return time.Time{}
	}
	if d > 1<<62 {
		d = 1 << 62
	}
	return time.UnixMilli(int64(d)).UTC()
}

// String formats d as RFC 3339 with milliseconds, or "0" when undefined.
func (d Date) String() string {
	if d == 0 {
		return "0"
	}
	return d.Time().Format("2006-01-02T15:04:05.000Z07:00")
}

// MaxStringLen is the longest String: its length is one byte
// (common-structures.rst "String").
const MaxStringLen = 255

// String is an I2P String: a 1-byte length, then up to 255 bytes
// (common-structures.rst "String"). The bytes are meant to be UTF-8, but
// I2NP carries them unchanged, so no encoding is checked or converted.
//
// i2pd 2.45 (RouterInfo::ReadString) reads at most 254 bytes of a key or
// value and replaces a 255-byte one by the empty string; such a String is
// valid here but avoid it in anything i2pd must understand.
type String string

// ParseString reads a String from the start of b.
func ParseString(b []byte) (String, int, error) {
	if len(b) < 1 {
		return "", 0, fmt.Errorf("%w: string length byte missing", ErrTruncated)
	}
	n := int(b[0])
	if len(b)-1 < n {
		return "", 0, fmt.Errorf("%w: string of %d bytes, have %d", ErrTruncated, n, len(b)-1)
	}
	return String(b[1 : 1+n]), 1 + n, nil
}

// Append appends the length byte and the bytes of s to b.
func (s String) Append(b []byte) ([]byte, error) {
	if len(s) > MaxStringLen {
		return b, fmt.Errorf("%w: string of %d bytes, limit %d", ErrTooLong, len(s), MaxStringLen)
	}
	b = append(b, byte(len(s)))
	return append(b, s...), nil
}

// Len returns the encoded length, 1 + len(s).
func (s String) Len() int { return 1 + len(s) }
