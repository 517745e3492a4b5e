package data

import (
	"encoding/binary"
	"fmt"
)

// Certificate types (common-structures.rst "Certificate").
const (
	CertTypeNull     = 0
	CertTypeHashCash = 1
	CertTypeHidden   = 2
	CertTypeSigned   = 3
	CertTypeMultiple = 4
	CertTypeKey      = 5
)

// certHeaderLen is type(1) + length(2).
const certHeaderLen = 3

// keyCertMinLen is the KEY certificate payload before any excess key data:
// signing type(2) + crypto type(2).
const keyCertMinLen = 4

// Certificate is a certificate as carried in KeysAndCert:
//
//	type(1) length(2, big endian) payload(length)
//
// Unknown types are kept as opaque payloads.
type Certificate struct {
	Type    byte
	Payload []byte
}

// NewKeyCertificate returns a KEY certificate naming the signing and crypto
// types, without excess key data.
func NewKeyCertificate(sigType, cryptoType uint16) Certificate {
	p := make([]byte, keyCertMinLen)
	binary.BigEndian.PutUint16(p[0:], sigType)
	binary.BigEndian.PutUint16(p[2:], cryptoType)
	return Certificate{Type: CertTypeKey, Payload: p}
}

// ParseCertificate reads a Certificate from the start of b. The payload is
// copied. A KEY certificate must carry at least the two type fields.
func ParseCertificate(b []byte) (Certificate, int, error) {
	if len(b) < certHeaderLen {
		return Certificate{}, 0, fmt.Errorf("%w: certificate header needs %d bytes, have %d", ErrTruncated, certHeaderLen, len(b))
	}
	typ := b[0]
	n := int(binary.BigEndian.Uint16(b[1:3]))
	if len(b) < certHeaderLen+n {
		return Certificate{}, 0, fmt.Errorf("%w: certificate type %d payload needs %d bytes, have %d", ErrTruncated, typ, n, len(b)-certHeaderLen)
	}
	if typ == CertTypeKey && n < keyCertMinLen {
		return Certificate{}, 0, fmt.Errorf("%w: KEY certificate payload is %d bytes, need at least %d", ErrCertificate, n, keyCertMinLen)
	}
	c := Certificate{Type: typ}
	if n > 0 {
		c.Payload = append([]byte(nil), b[certHeaderLen:certHeaderLen+n]...)
	}
	return c, certHeaderLen + n, nil
}

// Len returns the encoded length.
func (c Certificate) Len() int { return certHeaderLen + len(c.Payload) }

// Append appends the encoded certificate to b.
func (c Certificate) Append(b []byte) ([]byte, error) {
	if len(c.Payload) > 0xffff {
		return b, fmt.Errorf("%w: payload of %d bytes does not fit the 2-byte length", ErrCertificate, len(c.Payload))
	}
	if c.Type == CertTypeKey && len(c.Payload) < keyCertMinLen {
		return b, fmt.Errorf("%w: KEY certificate payload is %d bytes, need at least %d", ErrCertificate, len(c.Payload), keyCertMinLen)
	}
	b = append(b, c.Type)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Payload)))
	return append(b, c.Payload...), nil
}

// KeyTypes returns the signing and crypto types a certificate declares:
// those of a KEY certificate, otherwise the defaults DSA_SHA1 and ElGamal
// (what i2pd and Java assume for NULL and legacy certificates).
func (c Certificate) KeyTypes() (sigType, cryptoType uint16) {
	if c.Type != CertTypeKey || len(c.Payload) < keyCertMinLen {
		return SigTypeDSASHA1, CryptoTypeElGamal
	}
	return binary.BigEndian.Uint16(c.Payload[0:]), binary.BigEndian.Uint16(c.Payload[2:])
}
