package crypto

import (
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"io"
)

// X25519KeySize is the length of X25519 private keys, public keys and
// shared secrets.
const X25519KeySize = 32

// X25519Keys is an X25519 key pair as raw 32-byte little-endian strings
// (RFC 7748 §5), the form used on the wire (NTCP2 X/Y/s, the ECIES
// ephemeral and static keys, crypto type 4 in RouterIdentities and
// LeaseSet2) and in key files. Private holds the unclamped scalar bytes;
// clamping happens inside every scalar multiplication, as in RFC 7748.
type X25519Keys struct {
	Private [X25519KeySize]byte
	Public  [X25519KeySize]byte
}

// GenerateX25519 reads a 32-byte private key from r (crypto/rand.Reader when
// r is nil) and derives its public key. Reading the scalar ourselves, rather
// than letting crypto/ecdh pick one, keeps key generation reproducible from
// a seeded reader in tests.
func GenerateX25519(r io.Reader) (X25519Keys, error) {
	if r == nil {
		r = rand.Reader
	}
	var k X25519Keys
	if _, err := io.ReadFull(r, k.Private[:]); err != nil {
		return X25519Keys{}, fmt.Errorf("%w: generate X25519 key: %w", ErrShortRead, err)
	}
	k.Public = X25519Public(k.Private)
	return k, nil
}

// X25519KeysFromPrivate returns the key pair for a stored private key.
func X25519KeysFromPrivate(priv [X25519KeySize]byte) X25519Keys {
	return X25519Keys{Private: priv, Public: X25519Public(priv)}
}

// X25519Public returns X25519(priv, 9), the public key of priv.
func X25519Public(priv [X25519KeySize]byte) [X25519KeySize]byte {
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		// NewPrivateKey fails only on a length other than 32.
		panic("crypto: X25519 private key: " + err.Error())
	}
	var pub [X25519KeySize]byte
	copy(pub[:], k.PublicKey().Bytes())
	return pub
}

// X25519 returns the shared secret X25519(priv, peer) (the spec's DH). It
// fails with ErrLowOrderPoint when the result is all zeros, which happens
// exactly when peer is a low-order point: such a "secret" is known to
// everyone, so the handshake must stop (ntcp2.rst: the peer's key must be
// validated). The high bit of peer is ignored, as RFC 7748 §5 says.
func X25519(priv, peer [X25519KeySize]byte) ([X25519KeySize]byte, error) {
	var out [X25519KeySize]byte
	k, err := ecdh.X25519().NewPrivateKey(priv[:])
	if err != nil {
		panic("crypto: X25519 private key: " + err.Error())
	}
	p, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		panic("crypto: X25519 public key: " + err.Error())
	}
	s, err := k.ECDH(p)
	if err != nil {
		// crypto/ecdh reports exactly one failure for X25519: the all-zero
		// output of a low-order point.
		return out, fmt.Errorf("%w: peer key %x", ErrLowOrderPoint, peer[:4])
	}
	copy(out[:], s)
	return out, nil
}

// DH is X25519(k.Private, peer).
func (k *X25519Keys) DH(peer [X25519KeySize]byte) ([X25519KeySize]byte, error) {
	return X25519(k.Private, peer)
}
