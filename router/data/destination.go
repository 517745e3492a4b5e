package data

import "fmt"

// Destination is the public identity of an I2P service or client: a
// KeysAndCert (see the package documentation for the layout). The zero
// value means "no destination". Destinations are immutable and comparable.
type Destination struct {
	KeysAndCert
}

// ParseDestination reads a Destination from the start of b and returns the
// number of bytes consumed.
func ParseDestination(b []byte) (Destination, int, error) {
	kc, n, err := ParseKeysAndCert(b)
	if err != nil {
		return Destination{}, 0, fmt.Errorf("destination: %w", err)
	}
	return Destination{kc}, n, nil
}

// ParseDestinationBase64 decodes an I2P base64 Destination (as in
// hosts.txt, SAM and address-helper links). The whole string must be one
// Destination.
func ParseDestinationBase64(s string) (Destination, error) {
	b, err := Base64Decode(s)
	if err != nil {
		return Destination{}, fmt.Errorf("destination: %w", err)
	}
	d, n, err := ParseDestination(b)
	if err != nil {
		return Destination{}, err
	}
	if n != len(b) {
		return Destination{}, fmt.Errorf("destination: %w: %d bytes after a %d-byte destination", ErrTrailingBytes, len(b)-n, n)
	}
	return d, nil
}

// Base64 returns the I2P base64 of the destination bytes ("" for the zero
// value).
func (d Destination) Base64() string {
	if d.IsZero() {
		return ""
	}
	return Base64Encode([]byte(d.raw))
}

// B32 returns the ".b32.i2p" name of the destination ("" for the zero
// value).
func (d Destination) B32() string {
	if d.IsZero() {
		return ""
	}
	return d.hash.B32()
}

// String returns the ".b32.i2p" name: short, and safe to show where the
// full destination would be too long.
func (d Destination) String() string {
	if d.IsZero() {
		return "<no destination>"
	}
	return d.B32()
}
