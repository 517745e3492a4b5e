package crypto

import (
	"bytes"
	"errors"
	"testing"
)

// RFC 7748 §5.2, the two single-shot X25519 vectors.
func TestX25519MatchesRFC7748Vectors(t *testing.T) {
	tests := []struct{ scalar, u, out string }{
		{
			"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
			"e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
			"c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
		},
		{
			"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
			// The high bit of this u is set; RFC 7748 §5 says to ignore it.
			"e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
			"95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
		},
	}
	for _, tc := range tests {
		got, err := X25519(unhex32(t, tc.scalar), unhex32(t, tc.u))
		if err != nil {
			t.Fatalf("X25519(%s…): %v", tc.scalar[:8], err)
		}
		if want := unhex32(t, tc.out); got != want {
			t.Errorf("X25519(%s…) = %x, want %x", tc.scalar[:8], got, want)
		}
	}
}

// RFC 7748 §5.2, the iterated test: k = u = 9, then k, u = X25519(k, u), k.
// The million-round value is left out for time; 1000 rounds already catch
// any systematic error.
func TestX25519IteratesAsRFC7748(t *testing.T) {
	var k, u [32]byte
	k[0], u[0] = 9, 9
	for i := 1; i <= 1000; i++ {
		r, err := X25519(k, u)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		u, k = k, r
		switch i {
		case 1:
			if want := unhex32(t, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"); k != want {
				t.Fatalf("after 1 round: %x, want %x", k, want)
			}
		case 1000:
			if want := unhex32(t, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"); k != want {
				t.Fatalf("after 1000 rounds: %x, want %x", k, want)
			}
		}
	}
}

// RFC 7748 §6.1: both key pairs and the shared secret.
func TestX25519DiffieHellmanMatchesRFC7748(t *testing.T) {
	alicePriv := unhex32(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	alicePub := unhex32(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	bobPriv := unhex32(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
	bobPub := unhex32(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
	shared := unhex32(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")

	// Generation from a reader that yields Alice's private key.
	alice, err := GenerateX25519(bytes.NewReader(alicePriv[:]))
	if err != nil {
		t.Fatal(err)
	}
	if alice.Private != alicePriv || alice.Public != alicePub {
		t.Fatalf("GenerateX25519 = %x / %x, want %x / %x", alice.Private, alice.Public, alicePriv, alicePub)
	}
	bob := X25519KeysFromPrivate(bobPriv)
	if bob.Public != bobPub {
		t.Fatalf("Bob's public key %x, want %x", bob.Public, bobPub)
	}
	k1, err := alice.DH(bob.Public)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := bob.DH(alice.Public)
	if err != nil {
		t.Fatal(err)
	}
	if k1 != shared || k2 != shared {
		t.Fatalf("shared secrets %x and %x, want %x", k1, k2, shared)
	}
}

// A low-order peer key makes the "shared secret" all zeros whatever our
// private key is; DH must refuse it. The points are the u-coordinates of
// small-order points on the curve and its twist (including non-canonical
// p-1, which is the order-4 twist point).
func TestX25519RejectsLowOrderPoints(t *testing.T) {
	priv := unhex32(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	points := []string{
		"0000000000000000000000000000000000000000000000000000000000000000", // 0: order 4 (with the point at infinity, order 1)
		"0100000000000000000000000000000000000000000000000000000000000000", // 1: order 4 on the twist
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p-1
	}
	for _, p := range points {
		_, err := X25519(priv, unhex32(t, p))
		if !errors.Is(err, ErrLowOrderPoint) {
			t.Errorf("X25519(priv, %s…) error = %v, want ErrLowOrderPoint", p[:8], err)
		}
	}
}

func TestGenerateX25519ReportsShortRandomness(t *testing.T) {
	_, err := GenerateX25519(bytes.NewReader(make([]byte, 31)))
	if !errors.Is(err, ErrShortRead) {
		t.Fatalf("error = %v, want ErrShortRead", err)
	}
}

func TestGenerateX25519UsesCryptoRandByDefault(t *testing.T) {
	a, err := GenerateX25519(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateX25519(nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Private == b.Private || a.Public != X25519Public(a.Private) {
		t.Fatal("two default key pairs are equal, or a public key does not match its private key")
	}
}
