package datagram

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"i2pbridge/router/data"
)

// MaxLen is the largest datagram, everything inside the I2CP payload
// (destination and signature included for a repliable one): the buffer
// i2pd 2.45 inflates datagrams into (Datagram.h MAX_DATAGRAM_SIZE). Give
// it to payload.Parse as the decompression limit.
const MaxLen = 32768

// Signer is the sending destination of a repliable datagram.
// data.PrivateKeys satisfies it.
type Signer interface {
	// Destination is the sender, written in full into every datagram.
	Destination() data.Destination
	// Sign returns the signature of msg by the destination's signing key.
	Sign(msg []byte) ([]byte, error)
}

var _ Signer = data.PrivateKeys{}

// RepliableOverhead returns how many bytes a repliable datagram from
// "from" adds to its payload (destination plus signature; 455 for an
// Ed25519 destination without excess key bytes), or 0 when the signing
// type is unknown. The largest payload is MaxLen minus this.
func RepliableOverhead(from data.Destination) int {
	if from.IsZero() || from.SignatureLen() == 0 {
		return 0
	}
	return from.Len() + from.SignatureLen()
}

// AppendRepliable appends a repliable datagram from "from" carrying
// payload to dst: the destination, its signature (see signedMessage) and
// the payload. On error dst is returned unchanged.
func AppendRepliable(dst []byte, from Signer, payload []byte) ([]byte, error) {
	dest := from.Destination()
	if dest.IsZero() {
		return dst, fmt.Errorf("%w: no destination", ErrInvalid)
	}
	sigLen := dest.SignatureLen()
	if sigLen == 0 {
		return dst, fmt.Errorf("datagram: %w: %d", data.ErrUnknownSigType, dest.SigningType())
	}
	if n := dest.Len() + sigLen + len(payload); n > MaxLen {
		return dst, fmt.Errorf("%w: repliable datagram of %d bytes (%d-byte destination, %d-byte signature, %d-byte payload), limit %d",
			ErrTooLarge, n, dest.Len(), sigLen, len(payload), MaxLen)
	}
	sig, err := from.Sign(signedMessage(dest.SigningType(), payload))
	if err != nil {
		return dst, fmt.Errorf("datagram: sign: %w", err)
	}
	if len(sig) != sigLen {
		return dst, fmt.Errorf("%w: %d-byte signature for signing type %d, want %d", ErrInvalid, len(sig), dest.SigningType(), sigLen)
	}
	b, err := dest.Append(dst)
	if err != nil {
		return dst, fmt.Errorf("datagram: %w", err)
	}
	b = append(b, sig...)
	return append(b, payload...), nil
}

// ParseRepliable splits a repliable datagram that fills b and verifies its
// signature. payload is a sub-slice of b. Signing types other than Ed25519
// are refused with data.ErrUnsupportedSigType (wrapped), since they cannot
// be verified here.
func ParseRepliable(b []byte) (from data.Destination, payload []byte, err error) {
	if len(b) > MaxLen {
		return data.Destination{}, nil, fmt.Errorf("%w: repliable datagram of %d bytes, limit %d", ErrTooLarge, len(b), MaxLen)
	}
	from, sig, payload, err := splitRepliable(b)
	if err != nil {
		return data.Destination{}, nil, err
	}
	if err := from.Verify(signedMessage(from.SigningType(), payload), sig); err != nil {
		if errors.Is(err, data.ErrBadSignature) {
			return data.Destination{}, nil, fmt.Errorf("%w: from %s, %d-byte payload: %w", ErrBadSignature, from, len(payload), err)
		}
		return data.Destination{}, nil, fmt.Errorf("datagram: verify: %w", err)
	}
	return from, payload, nil
}

// splitRepliable cuts b into destination, signature and payload without
// verifying anything.
func splitRepliable(b []byte) (from data.Destination, sig, payload []byte, err error) {
	from, n, err := data.ParseDestination(b)
	if err != nil {
		if errors.Is(err, data.ErrTruncated) {
			return data.Destination{}, nil, nil, fmt.Errorf("%w: sender: %w", ErrTruncated, err)
		}
		return data.Destination{}, nil, nil, fmt.Errorf("datagram: sender: %w", err)
	}
	sigLen := from.SignatureLen()
	if sigLen == 0 {
		return data.Destination{}, nil, nil, fmt.Errorf("datagram: %w: %d", data.ErrUnknownSigType, from.SigningType())
	}
	if len(b)-n < sigLen {
		return data.Destination{}, nil, nil, fmt.Errorf("%w: signing type %d needs a %d-byte signature, have %d bytes", ErrTruncated, from.SigningType(), sigLen, len(b)-n)
	}
	return from, b[n : n+sigLen], b[n+sigLen:], nil
}

// signedMessage is what the sender signs: the payload itself, except for
// DSA_SHA1, whose signature is over SHA-256(payload) (datagrams.rst
// §"Datagram1 (Repliable)"; i2pd DatagramDestination::SendDatagram and
// HandleDatagram).
func signedMessage(sigType uint16, payload []byte) []byte {
	if sigType == data.SigTypeDSASHA1 {
		h := sha256.Sum256(payload)
		return h[:]
	}
	return payload
}

// AppendRaw appends a raw datagram, which is just the payload, to dst. On
// error dst is returned unchanged.
func AppendRaw(dst, payload []byte) ([]byte, error) {
	if len(payload) > MaxLen {
		return dst, fmt.Errorf("%w: raw datagram of %d bytes, limit %d", ErrTooLarge, len(payload), MaxLen)
	}
	return append(dst, payload...), nil
}

// ParseRaw returns the payload of a raw datagram: b itself, once its size
// is checked.
func ParseRaw(b []byte) ([]byte, error) {
	if len(b) > MaxLen {
		return nil, fmt.Errorf("%w: raw datagram of %d bytes, limit %d", ErrTooLarge, len(b), MaxLen)
	}
	return b, nil
}
