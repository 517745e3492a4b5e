package data

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Encryption private key lengths in a key file. i2pd
// (PrivateKeys::GetPrivateKeyLen) writes 32 bytes for X25519 and 256 for
// everything else; Java writes the type's own length. Both agree on these.
const (
	elGamalPrivateKeyLen = 256
	x25519KeyLen         = 32
)

// offline block before the transient public key: expires(4) + sig type(2).
const offlineHeaderLen = 6

// PrivateKeys is a destination with its private keys, in the private key
// file format of Java I2P and i2pd, which is also SAM's private key (see the
// package documentation for the layout). It keeps the exact bytes it was
// parsed from; the zero value holds nothing. Its String, GoString and
// LogValue methods never print key material.
type PrivateKeys struct {
	raw    string
	dest   Destination
	encOff int // offset of the encryption private key
	sigOff int // offset of the signing private key
	sigLen int
}

// encPrivateKeyLen returns the encryption private key length for the key
// file, refusing types whose length i2pd and Java disagree on.
func encPrivateKeyLen(cryptoType uint16) (int, error) {
	switch cryptoType {
	case CryptoTypeElGamal:
		return elGamalPrivateKeyLen, nil
	case CryptoTypeX25519:
		return x25519KeyLen, nil
	}
	return 0, fmt.Errorf("%w: crypto type %d in a private key file (only ElGamal 0 and X25519 4 have an agreed private key length)", ErrUnsupportedCryptoType, cryptoType)
}

// ParsePrivateKeys parses a whole private key file. The input must be
// exactly one PrivateKeys; errors say which field is short or wrong.
// Offline-signed files are measured and then refused with ErrOfflineKeys.
func ParsePrivateKeys(b []byte) (PrivateKeys, error) {
	k, n, err := parsePrivateKeys(b)
	if err != nil {
		return PrivateKeys{}, err
	}
	if n != len(b) {
		return PrivateKeys{}, fmt.Errorf("private keys: %w: %d bytes after the %d-byte key file", ErrTrailingBytes, len(b)-n, n)
	}
	return k, nil
}

// ParsePrivateKeysBase64 parses the I2P base64 form (SAM's
// DESTINATION=<private key> and "DEST GENERATE" PRIV=).
func ParsePrivateKeysBase64(s string) (PrivateKeys, error) {
	b, err := Base64Decode(s)
	if err != nil {
		return PrivateKeys{}, fmt.Errorf("private keys: %w", err)
	}
	return ParsePrivateKeys(b)
}

func parsePrivateKeys(b []byte) (PrivateKeys, int, error) {
	dest, off, err := ParseDestination(b)
	if err != nil {
		return PrivateKeys{}, 0, fmt.Errorf("private keys: %w", err)
	}
	encLen, err := encPrivateKeyLen(dest.CryptoType())
	if err != nil {
		return PrivateKeys{}, 0, fmt.Errorf("private keys: %w", err)
	}
	if len(b)-off < encLen {
		return PrivateKeys{}, 0, fmt.Errorf("private keys: %w: encryption private key (crypto type %d) needs %d bytes, have %d", ErrTruncated, dest.CryptoType(), encLen, len(b)-off)
	}
	encOff := off
	off += encLen
	info, ok := sigTypes[dest.SigningType()]
	if !ok {
		return PrivateKeys{}, 0, fmt.Errorf("private keys: %w: %d, signing private key length unknown", ErrUnknownSigType, dest.SigningType())
	}
	if len(b)-off < info.PrivateKeyLen {
		return PrivateKeys{}, 0, fmt.Errorf("private keys: %w: signing private key (%s) needs %d bytes, have %d", ErrTruncated, info.Name, info.PrivateKeyLen, len(b)-off)
	}
	sigOff := off
	off += info.PrivateKeyLen
	if allZero(b[sigOff:off]) {
		return PrivateKeys{}, 0, offlineError(b[off:], dest)
	}
	k := PrivateKeys{raw: string(b[:off]), dest: dest, encOff: encOff, sigOff: sigOff, sigLen: info.PrivateKeyLen}
	if err := k.checkKeyPair(); err != nil {
		return PrivateKeys{}, 0, err
	}
	return k, off, nil
}

// offlineError walks the offline section that follows an all-zero signing
// private key (i2pd PrivateKeys::FromBuffer) so that a truncated file is
// reported as truncated, and otherwise explains the refusal.
func offlineError(b []byte, dest Destination) error {
	if len(b) < offlineHeaderLen {
		return fmt.Errorf("private keys: %w: signing private key is all zeros (offline keys) but the offline header needs %d bytes, have %d", ErrTruncated, offlineHeaderLen, len(b))
	}
	expires := time.Unix(int64(binary.BigEndian.Uint32(b)), 0).UTC()
	tt := binary.BigEndian.Uint16(b[4:])
	tinfo, ok := sigTypes[tt]
	if !ok {
		return fmt.Errorf("private keys: %w: offline section names transient signing type %d", ErrUnknownSigType, tt)
	}
	need := offlineHeaderLen + tinfo.PublicKeyLen + dest.SignatureLen() + tinfo.PrivateKeyLen
	if len(b) < need {
		return fmt.Errorf("private keys: %w: offline section (transient %s) needs %d bytes, have %d", ErrTruncated, tinfo.Name, need, len(b))
	}
	return fmt.Errorf("private keys: %w: signing private key is all zeros; transient %s key expires %s", ErrOfflineKeys, tinfo.Name, expires.Format(time.RFC3339))
}

// checkKeyPair makes sure the Ed25519 seed produces the public key in the
// destination, so a corrupted file fails at load time rather than as
// unverifiable LeaseSets later. Other signing types are not checked.
func (k PrivateKeys) checkKeyPair() error {
	if k.dest.SigningType() != SigTypeEd25519 {
		return nil
	}
	pub, err := k.dest.SigningPublicKey()
	if err != nil {
		return fmt.Errorf("private keys: %w", err)
	}
	priv := ed25519.NewKeyFromSeed([]byte(k.raw[k.sigOff : k.sigOff+k.sigLen]))
	if string(priv.Public().(ed25519.PublicKey)) != string(pub) {
		return fmt.Errorf("private keys: %w: Ed25519 seed does not produce the destination's signing key", ErrKeyMismatch)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// GeneratePrivateKeys creates a new destination with Ed25519 signing
// (type 7) and X25519 encryption (type 4), certificate 05 00 04 00 07 00 04.
// The X25519 private key is stored clamped, as OpenSSL (and so i2pd, for
// its router.keys) stores generated keys, and the destination's crypto key
// is its public key. (i2pd fills both with unrelated random bytes for
// destinations, whose encryption keys live in the LeaseSet2 instead.) The padding is
// one random 32-byte block repeated, as recommended since 0.9.57 so that
// destinations compress. Everything is read from rand, in this order:
// X25519 key, Ed25519 seed, padding block.
func GeneratePrivateKeys(rand io.Reader) (PrivateKeys, error) {
	var encPriv, seed, pad [32]byte
	for _, buf := range [][]byte{encPriv[:], seed[:], pad[:]} {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return PrivateKeys{}, fmt.Errorf("private keys: generate: %w", err)
		}
	}
	clampX25519(encPriv[:])
	xpriv, err := ecdh.X25519().NewPrivateKey(encPriv[:])
	if err != nil {
		return PrivateKeys{}, fmt.Errorf("private keys: generate: %w", err)
	}
	sigPub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)

	b := make([]byte, 0, MinKeysAndCertLen+keyCertMinLen+x25519KeyLen+ed25519.SeedSize)
	b = append(b, xpriv.PublicKey().Bytes()...)
	for len(b) < KeyAreaLen-ed25519.PublicKeySize {
		b = append(b, pad[:]...)
	}
	b = append(b, sigPub...)
	b, err = NewKeyCertificate(SigTypeEd25519, CryptoTypeX25519).Append(b)
	if err != nil {
		return PrivateKeys{}, fmt.Errorf("private keys: generate: %w", err)
	}
	b = append(b, encPriv[:]...)
	b = append(b, seed[:]...)
	return ParsePrivateKeys(b)
}

// clampX25519 applies the RFC 7748 clamping that OpenSSL applies when it
// generates a key; X25519 clamps on use anyway, so this only makes stored
// keys canonical.
func clampX25519(k []byte) {
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
}

// IsZero reports whether k holds no keys (the zero value).
func (k PrivateKeys) IsZero() bool { return k.raw == "" }

// Len returns the encoded length.
func (k PrivateKeys) Len() int { return len(k.raw) }

// Append appends the exact key file bytes to b.
func (k PrivateKeys) Append(b []byte) ([]byte, error) {
	if k.IsZero() {
		return b, fmt.Errorf("private keys: %w: empty private keys", ErrTruncated)
	}
	return append(b, k.raw...), nil
}

// Bytes returns a copy of the key file bytes (nil for the zero value).
func (k PrivateKeys) Bytes() []byte {
	if k.IsZero() {
		return nil
	}
	return []byte(k.raw)
}

// Base64 returns the key file in I2P base64, SAM's private key form.
func (k PrivateKeys) Base64() string {
	if k.IsZero() {
		return ""
	}
	return Base64Encode([]byte(k.raw))
}

// Destination returns the public destination.
func (k PrivateKeys) Destination() Destination { return k.dest }

// EncryptionPrivateKey returns a copy of the encryption private key (32
// bytes little-endian for X25519, 256 for ElGamal). i2pd-generated
// destinations store a random value here that matches nothing public:
// i2pd encrypts with separate LeaseSet2 keys.
func (k PrivateKeys) EncryptionPrivateKey() []byte {
	if k.IsZero() {
		return nil
	}
	return []byte(k.raw[k.encOff:k.sigOff])
}

// SigningPrivateKey returns a copy of the signing private key as stored
// (the 32-byte seed for Ed25519).
func (k PrivateKeys) SigningPrivateKey() []byte {
	if k.IsZero() {
		return nil
	}
	return []byte(k.raw[k.sigOff : k.sigOff+k.sigLen])
}

// Ed25519PrivateKey returns the signing key as an ed25519.PrivateKey.
func (k PrivateKeys) Ed25519PrivateKey() (ed25519.PrivateKey, error) {
	if k.IsZero() {
		return nil, fmt.Errorf("private keys: %w: empty private keys", ErrTruncated)
	}
	if t := k.dest.SigningType(); t != SigTypeEd25519 {
		return nil, fmt.Errorf("private keys: %w: %s", ErrUnsupportedSigType, sigTypes[t].Name)
	}
	return ed25519.NewKeyFromSeed(k.SigningPrivateKey()), nil
}

// Sign signs msg with the destination's signing key (Ed25519 only).
func (k PrivateKeys) Sign(msg []byte) ([]byte, error) {
	priv, err := k.Ed25519PrivateKey()
	if err != nil {
		return nil, err
	}
	return ed25519.Sign(priv, msg), nil
}

// String names the destination without revealing key material.
func (k PrivateKeys) String() string {
	if k.IsZero() {
		return "PrivateKeys(<none>)"
	}
	return "PrivateKeys(" + k.dest.B32() + ")"
}

// GoString keeps %#v from printing key material.
func (k PrivateKeys) GoString() string { return k.String() }

// LogValue keeps slog from printing key material.
func (k PrivateKeys) LogValue() slog.Value { return slog.StringValue(k.String()) }
