package crypto

import (
	"bytes"
	"errors"
	"testing"
)

// RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte): the 32-byte
// secret key there is the seed I2P stores.
func TestEd25519MatchesRFC8032(t *testing.T) {
	tests := []struct{ name, seed, pub, msg, sig string }{
		{
			"TEST 1",
			"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
			"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
			"",
			"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" +
				"5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
		},
		{
			"TEST 2",
			"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
			"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
			"72",
			"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
				"085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed := unhex32(t, tc.seed)
			k, err := GenerateEd25519Key(bytes.NewReader(seed[:]))
			if err != nil {
				t.Fatal(err)
			}
			if k.Seed() != seed {
				t.Fatalf("Seed() = %x, want the input seed %x", k.Seed(), seed)
			}
			pub := k.Public()
			if want := unhex32(t, tc.pub); pub != want {
				t.Fatalf("Public() = %x, want %x", pub, want)
			}
			msg := unhex(t, tc.msg)
			sig := k.Sign(msg)
			if want := unhex(t, tc.sig); !bytes.Equal(sig[:], want) {
				t.Fatalf("Sign = %x, want %x", sig, want)
			}
			if !Ed25519Verify(pub, msg, sig[:]) {
				t.Fatal("the RFC signature does not verify")
			}
			bad := sig
			bad[0] ^= 1
			if Ed25519Verify(pub, msg, bad[:]) {
				t.Fatal("a signature with a flipped bit verifies")
			}
			if Ed25519Verify(pub, append(msg, 0), sig[:]) {
				t.Fatal("the signature verifies for a different message")
			}
			if Ed25519Verify(pub, msg, sig[:63]) {
				t.Fatal("a truncated signature verifies")
			}
		})
	}
}

func TestGenerateEd25519KeyReportsShortRandomness(t *testing.T) {
	if _, err := GenerateEd25519Key(bytes.NewReader(make([]byte, 10))); !errors.Is(err, ErrShortRead) {
		t.Fatalf("error = %v, want ErrShortRead", err)
	}
}

func TestNewEd25519KeyRoundTripsTheSeed(t *testing.T) {
	k, err := GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	again := NewEd25519Key(k.Seed())
	if again.Public() != k.Public() {
		t.Fatal("a key rebuilt from its seed has a different public key")
	}
}
