package data

import (
	"crypto/ecdh"
	"fmt"
	"io"
	"log/slog"
)

// RouterKeys is a router's identity with its private keys: the content of
// i2pd's router.keys, which has the private key file layout (see the
// package documentation):
//
//	RouterIdentity (391 bytes: X25519 public key, padding, Ed25519 public
//	                key, KEY certificate 05 00 04 00 07 00 04)
//	X25519 private key (32 bytes, little endian)
//	Ed25519 seed (32 bytes)
//
// Only that combination is accepted: i2pd builds tunnels only through
// routers with crypto type 4 and verifies only what it can, and this module
// signs only with Ed25519. Unlike a destination's key file, the X25519 key
// here must match the public key in the identity, since peers encrypt
// tunnel build records to it. The zero value holds nothing; String,
// GoString and LogValue never print key material.
//
// Load and store router.keys with LoadPrivateKeyFile / WritePrivateKeyFile
// (or LoadOrCreatePrivateKeyFile with GenerateRouterKeys's layout) and
// convert with NewRouterKeys / PrivateKeys.
type RouterKeys struct {
	keys  PrivateKeys
	ident RouterIdentity
}

// NewRouterKeys checks that k is a router key set (Ed25519 signing, X25519
// encryption, matching X25519 key pair) and returns it as RouterKeys.
func NewRouterKeys(k PrivateKeys) (RouterKeys, error) {
	if k.IsZero() {
		return RouterKeys{}, fmt.Errorf("router keys: %w: empty private keys", ErrTruncated)
	}
	d := k.Destination()
	if t := d.SigningType(); t != SigTypeEd25519 {
		return RouterKeys{}, fmt.Errorf("router keys: %w: signing type %d, routers need Ed25519 (7)", ErrUnsupportedSigType, t)
	}
	if t := d.CryptoType(); t != CryptoTypeX25519 {
		return RouterKeys{}, fmt.Errorf("router keys: %w: crypto type %d, routers need X25519 (4)", ErrUnsupportedCryptoType, t)
	}
	priv, err := ecdh.X25519().NewPrivateKey(k.EncryptionPrivateKey())
	if err != nil {
		return RouterKeys{}, fmt.Errorf("router keys: %w", err)
	}
	pub, err := d.CryptoPublicKey()
	if err != nil {
		return RouterKeys{}, fmt.Errorf("router keys: %w", err)
	}
	if string(priv.PublicKey().Bytes()) != string(pub) {
		return RouterKeys{}, fmt.Errorf("router keys: %w: X25519 private key does not produce the identity's public key", ErrKeyMismatch)
	}
	return RouterKeys{keys: k, ident: RouterIdentity{d.KeysAndCert}}, nil
}

// ParseRouterKeys parses the bytes of a router.keys file.
func ParseRouterKeys(b []byte) (RouterKeys, error) {
	k, err := ParsePrivateKeys(b)
	if err != nil {
		return RouterKeys{}, fmt.Errorf("router keys: %w", err)
	}
	return NewRouterKeys(k)
}

// GenerateRouterKeys creates a new router identity with X25519 and Ed25519
// keys, reading randomness from rand (see GeneratePrivateKeys, whose layout
// is exactly a router identity's).
func GenerateRouterKeys(rand io.Reader) (RouterKeys, error) {
	k, err := GeneratePrivateKeys(rand)
	if err != nil {
		return RouterKeys{}, fmt.Errorf("router keys: %w", err)
	}
	return NewRouterKeys(k)
}

// IsZero reports whether k holds no keys.
func (k RouterKeys) IsZero() bool { return k.keys.IsZero() }

// Identity returns the public RouterIdentity.
func (k RouterKeys) Identity() RouterIdentity { return k.ident }

// Hash returns the router hash, SHA-256 of the identity bytes.
func (k RouterKeys) Hash() Hash { return k.ident.Hash() }

// PrivateKeys returns the key file form, for WritePrivateKeyFile.
func (k RouterKeys) PrivateKeys() PrivateKeys { return k.keys }

// Len returns the encoded length (455 bytes).
func (k RouterKeys) Len() int { return k.keys.Len() }

// Append appends the router.keys bytes to b.
func (k RouterKeys) Append(b []byte) ([]byte, error) {
	out, err := k.keys.Append(b)
	if err != nil {
		return b, fmt.Errorf("router keys: %w", err)
	}
	return out, nil
}

// X25519PrivateKey returns a copy of the 32-byte X25519 private key.
func (k RouterKeys) X25519PrivateKey() []byte { return k.keys.EncryptionPrivateKey() }

// Sign signs msg with the router's Ed25519 key.
func (k RouterKeys) Sign(msg []byte) ([]byte, error) {
	sig, err := k.keys.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("router keys: %w", err)
	}
	return sig, nil
}

// String names the router by its short hash, never its keys.
func (k RouterKeys) String() string {
	if k.IsZero() {
		return "RouterKeys(<none>)"
	}
	return "RouterKeys(" + k.ident.String() + ")"
}

// GoString keeps %#v from printing key material.
func (k RouterKeys) GoString() string { return k.String() }

// LogValue keeps slog from printing key material.
func (k RouterKeys) LogValue() slog.Value { return slog.StringValue(k.String()) }
