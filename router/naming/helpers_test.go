package naming

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"i2pbridge/router/data"
)

// testDest builds a distinct, valid Destination from seed: key areas filled
// from SHA-256 of the seed, then a KEY certificate for Ed25519/X25519, as
// modern routers generate. No key generation is needed: the naming code
// only parses and hashes destinations.
func testDest(tb testing.TB, seed int) data.Destination {
	tb.Helper()
	b := keyArea(seed)
	b = append(b, data.CertTypeKey, 0, 4, 0, data.SigTypeEd25519, 0, data.CryptoTypeX25519)
	return mustParse(tb, b)
}

// testNullCertDest builds a destination with a NULL certificate: the
// classic 387-byte (516 base64 characters, ending "AAAA") form.
func testNullCertDest(tb testing.TB, seed int) data.Destination {
	tb.Helper()
	return mustParse(tb, append(keyArea(seed), 0, 0, 0))
}

func keyArea(seed int) []byte {
	b := make([]byte, 0, data.KeyAreaLen+sha256.Size)
	for i := 0; len(b) < data.KeyAreaLen; i++ {
		s := sha256.Sum256(fmt.Appendf(nil, "dest %d block %d", seed, i))
		b = append(b, s[:]...)
	}
	return b[:data.KeyAreaLen]
}

func mustParse(tb testing.TB, b []byte) data.Destination {
	tb.Helper()
	d, n, err := data.ParseDestination(b)
	if err != nil || n != len(b) {
		tb.Fatalf("test destination: n=%d of %d, err=%v", n, len(b), err)
	}
	return d
}
