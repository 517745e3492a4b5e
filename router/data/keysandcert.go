package data

import (
	"crypto/ed25519"
	"fmt"
)

// Key area sizes (common-structures.rst "KeysAndCert").
const (
	cryptoAreaLen  = 256
	signingAreaLen = 128
	// KeyAreaLen is the fixed key area before the certificate.
	KeyAreaLen = cryptoAreaLen + signingAreaLen
	// MinKeysAndCertLen is the shortest KeysAndCert: key area + an empty
	// certificate.
	MinKeysAndCertLen = KeyAreaLen + certHeaderLen
)

// KeysAndCert is the public identity shared by Destination and
// RouterIdentity. It keeps the exact bytes it was parsed from (so the hash
// is of those bytes) as a string, which makes the type immutable and
// comparable with ==; the zero value holds nothing.
type KeysAndCert struct {
	raw        string
	sigType    uint16
	cryptoType uint16
	hash       Hash
}

// ParseKeysAndCert reads a KeysAndCert from the start of b and returns it
// with the number of bytes consumed. Unknown signing or crypto types are
// accepted here (the key is needed only to verify or encrypt, where the
// accessors report them). NULL and KEY certificates must have exactly the
// payload their types call for; other certificate types are skipped by
// their length and imply DSA_SHA1/ElGamal, as in i2pd and Java.
func ParseKeysAndCert(b []byte) (KeysAndCert, int, error) {
	if len(b) < MinKeysAndCertLen {
		return KeysAndCert{}, 0, fmt.Errorf("%w: keys and certificate need at least %d bytes, have %d", ErrTruncated, MinKeysAndCertLen, len(b))
	}
	cert, cn, err := ParseCertificate(b[KeyAreaLen:])
	if err != nil {
		return KeysAndCert{}, 0, err
	}
	sigType, cryptoType := cert.KeyTypes()
	if err := checkCertLen(cert, sigType, cryptoType); err != nil {
		return KeysAndCert{}, 0, err
	}
	n := KeyAreaLen + cn
	raw := string(b[:n])
	return KeysAndCert{raw: raw, sigType: sigType, cryptoType: cryptoType, hash: HashOf(b[:n])}, n, nil
}

// IsZero reports whether k holds no identity (the zero value).
func (k KeysAndCert) IsZero() bool { return k.raw == "" }

// Len returns the encoded length.
func (k KeysAndCert) Len() int { return len(k.raw) }

// Append appends the exact parsed bytes to b.
func (k KeysAndCert) Append(b []byte) ([]byte, error) {
	if k.IsZero() {
		return b, fmt.Errorf("%w: empty keys and certificate", ErrTruncated)
	}
	return append(b, k.raw...), nil
}

// Bytes returns a copy of the encoded bytes (nil for the zero value).
func (k KeysAndCert) Bytes() []byte {
	if k.IsZero() {
		return nil
	}
	return []byte(k.raw)
}

// Hash returns SHA-256 of the exact encoded bytes.
func (k KeysAndCert) Hash() Hash { return k.hash }

// SigningType returns the signing type from the KEY certificate, or
// DSA_SHA1 (0) without one.
func (k KeysAndCert) SigningType() uint16 { return k.sigType }

// CryptoType returns the crypto type from the KEY certificate, or ElGamal
// (0) without one.
func (k KeysAndCert) CryptoType() uint16 { return k.cryptoType }

// Certificate returns the certificate.
func (k KeysAndCert) Certificate() Certificate {
	if k.IsZero() {
		return Certificate{}
	}
	c, _, _ := ParseCertificate([]byte(k.raw[KeyAreaLen:])) // validated at parse time
	return c
}

// SigningPublicKey returns the signing public key: the last bytes of the
// signing area, or for keys longer than 128 bytes the whole area followed
// by the excess bytes in the KEY certificate.
func (k KeysAndCert) SigningPublicKey() ([]byte, error) {
	if k.IsZero() {
		return nil, fmt.Errorf("%w: empty keys and certificate", ErrTruncated)
	}
	info, ok := sigTypes[k.sigType]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownSigType, k.sigType)
	}
	if info.PublicKeyLen <= signingAreaLen {
		return []byte(k.raw[KeyAreaLen-info.PublicKeyLen : KeyAreaLen]), nil
	}
	key := []byte(k.raw[cryptoAreaLen:KeyAreaLen])
	excessStart := KeyAreaLen + certHeaderLen + keyCertMinLen
	return append(key, k.raw[excessStart:excessStart+info.PublicKeyLen-signingAreaLen]...), nil
}

// CryptoPublicKey returns the encryption public key from the start of the
// key area. For a Destination this key is unused (LeaseSet2 carries the
// encryption keys) and may be random padding.
func (k KeysAndCert) CryptoPublicKey() ([]byte, error) {
	if k.IsZero() {
		return nil, fmt.Errorf("%w: empty keys and certificate", ErrTruncated)
	}
	n, ok := cryptoPublicKeyLens[k.cryptoType]
	if !ok || n > cryptoAreaLen {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedCryptoType, k.cryptoType)
	}
	return []byte(k.raw[:n]), nil
}

// Verify checks sig over msg with the identity's signing key. Only Ed25519
// is implemented; the network requires it for everything we talk to.
func (k KeysAndCert) Verify(msg, sig []byte) error {
	if k.sigType != SigTypeEd25519 {
		if _, ok := sigTypes[k.sigType]; !ok {
			return fmt.Errorf("%w: %d", ErrUnknownSigType, k.sigType)
		}
		return fmt.Errorf("%w: %s", ErrUnsupportedSigType, sigTypes[k.sigType].Name)
	}
	pub, err := k.SigningPublicKey()
	if err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// checkCertLen enforces the payload length of NULL and KEY certificates, as
// common-structures.rst "Certificate" asks ("prohibit excess data"): a NULL
// certificate is empty, and a KEY certificate whose types are both known
// holds exactly the two type fields plus the excess key bytes those types
// need. A KEY certificate naming an unknown type only needs the type fields;
// its key is refused later, where it is used.
func checkCertLen(cert Certificate, sigType, cryptoType uint16) error {
	switch cert.Type {
	case CertTypeNull:
		if len(cert.Payload) != 0 {
			return fmt.Errorf("%w: NULL certificate has a %d-byte payload", ErrCertificate, len(cert.Payload))
		}
	case CertTypeKey:
		info, sigKnown := sigTypes[sigType]
		cryptoLen, cryptoKnown := cryptoPublicKeyLens[cryptoType]
		if !sigKnown || !cryptoKnown {
			return nil
		}
		want := keyCertMinLen + max(info.PublicKeyLen-signingAreaLen, 0) + max(cryptoLen-cryptoAreaLen, 0)
		if len(cert.Payload) != want {
			return fmt.Errorf("%w: KEY certificate for signing type %d, crypto type %d has a %d-byte payload, want %d", ErrCertificate, sigType, cryptoType, len(cert.Payload), want)
		}
	}
	return nil
}

// SignatureLen returns the signature length of the signing type, or 0 when
// the type is unknown.
func (k KeysAndCert) SignatureLen() int { return sigTypes[k.sigType].SignatureLen }
