package testnet

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
)

// The harness decodes just enough of I2P's structures to name files and
// addresses itself, deliberately without router/data: it is the yardstick
// that package is measured against, and every value it computes is
// confirmed by i2pd (netDb files it accepts, an eepsite it serves).

// i2pBase64 is I2P's base64: RFC 4648 with '-' and '~' for '+' and '/'.
var i2pBase64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~")

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// keysAndCertLen is the length of the KeysAndCert that starts b (a
// RouterIdentity or Destination): a 384-byte key area, then a certificate
// of type (1 byte), length (2 bytes) and payload.
func keysAndCertLen(b []byte) (int, error) {
	const keyArea = 384
	if len(b) < keyArea+3 {
		return 0, fmt.Errorf("keys and cert: %d bytes, need at least %d", len(b), keyArea+3)
	}
	n := keyArea + 3 + int(binary.BigEndian.Uint16(b[keyArea+1:]))
	if len(b) < n {
		return 0, fmt.Errorf("keys and cert: certificate needs %d bytes, have %d", n, len(b))
	}
	return n, nil
}

// identHash is SHA-256 of the RouterIdentity or Destination at the start
// of b: a router's hash, or a destination's (whose base32 is its b32).
func identHash(b []byte) ([32]byte, error) {
	n, err := keysAndCertLen(b)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b[:n]), nil
}

// netDbName is where i2pd keeps a RouterInfo with hash h:
// netDb/r<first base64 char>/routerInfo-<base64 hash>.dat.
func netDbName(h [32]byte) string {
	s := i2pBase64.EncodeToString(h[:])
	return "r" + s[:1] + "/routerInfo-" + s + ".dat"
}

// B32FromKeys returns the .b32.i2p address of the private key file
// contents b (i2pd/Java format: Destination first).
func B32FromKeys(b []byte) (string, error) {
	h, err := identHash(b)
	if err != nil {
		return "", fmt.Errorf("keys file: %w", err)
	}
	return B32FromHash(h), nil
}

// B32FromHash renders a destination hash as its .b32.i2p name.
func B32FromHash(h [32]byte) string {
	return strings.ToLower(b32.EncodeToString(h[:])) + ".b32.i2p"
}
