package crypto

import (
	"bytes"
	"errors"
	"testing"
)

// sunscreen is the plaintext of RFC 8439 §2.4.2 and §2.8.2.
const sunscreen = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."

func TestNonceIsFourZerosThenLittleEndianCounter(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "000000000000000000000000"},
		{1, "000000000100000000000000"},
		{7, "000000000700000000000000"}, // short build record 7: "iv[4] = n"
		{0x0102030405060708, "000000000807060504030201"},
		{0x4a000000, "000000000000004a00000000"}, // RFC 8439 §2.4.2's nonce
	}
	for _, tc := range tests {
		if got := Nonce(tc.n); !bytes.Equal(got[:], unhex(t, tc.want)) {
			t.Errorf("Nonce(%#x) = %x, want %s", tc.n, got, tc.want)
		}
	}
}

// RFC 8439 §2.8.2, the AEAD example; i2pd 2.45.0 tests/test-aeadchacha20poly1305.cpp
// checks its AEAD against the same values. Its nonce (07 00 00 00 ‖ IV) has
// nonzero leading bytes, so it goes through the raw-nonce path under Seal.
func TestAEADMatchesRFC8439Example(t *testing.T) {
	key := [32]byte(seq(0x80, 32))
	nonce := [12]byte(unhex(t, "070000004041424344454647"))
	ad := unhex(t, "50515253c0c1c2c3c4c5c6c7")
	want := unhex(t, `
		d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
		3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
		92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
		3ff4def08e4b7a9de576d26586cec64b6116
		1ae10b594f09e26a7e902ecbd0600691`)

	a := NewAEAD(&key)
	got := a.sealNonce(nil, &nonce, []byte(sunscreen), ad)
	if !bytes.Equal(got, want) {
		t.Fatalf("seal = %x\nwant   %x", got, want)
	}
	plain, err := a.openNonce(nil, &nonce, got, ad)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != sunscreen {
		t.Fatalf("open = %q", plain)
	}
}

func TestAEADOpenRefusesEveryMismatch(t *testing.T) {
	key := [32]byte(seq(1, 32))
	ad := []byte("handshake hash h")
	ct := AEADSeal(&key, 5, nil, []byte("options block..."), ad)
	if len(ct) != 16+AEADTagSize {
		t.Fatalf("ciphertext is %d bytes, want %d", len(ct), 16+AEADTagSize)
	}
	otherKey := key
	otherKey[31] ^= 0x80
	tampered := bytes.Clone(ct)
	tampered[3] ^= 1
	tests := []struct {
		name string
		key  *[32]byte
		n    uint64
		ct   []byte
		ad   []byte
	}{
		{"wrong nonce", &key, 4, ct, ad},
		{"wrong key", &otherKey, 5, ct, ad},
		{"wrong ad", &key, 5, ct, []byte("handshake hash H")},
		{"missing ad", &key, 5, ct, nil},
		{"tampered ciphertext", &key, 5, tampered, ad},
		{"truncated", &key, 5, ct[:len(ct)-1], ad},
		{"shorter than a tag", &key, 5, ct[:AEADTagSize-1], ad},
		{"empty", &key, 5, nil, ad},
	}
	for _, tc := range tests {
		if _, err := AEADOpen(tc.key, tc.n, nil, tc.ct, tc.ad); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s: error = %v, want ErrAuthFailed", tc.name, err)
		}
	}
	plain, err := AEADOpen(&key, 5, nil, ct, ad)
	if err != nil || string(plain) != "options block..." {
		t.Fatalf("the untouched ciphertext does not open: %q, %v", plain, err)
	}
}

// NTCP2 decrypts frames where they lie; Seal into plaintext[:0] and Open
// into ciphertext[:0] must work.
func TestAEADWorksInPlace(t *testing.T) {
	key := [32]byte(seq(9, 32))
	a := NewAEAD(&key)
	buf := make([]byte, 100, 100+AEADTagSize)
	copy(buf, sunscreen)
	sealed := a.Seal(buf[:0], 77, buf, nil)
	if want := a.Seal(nil, 77, []byte(sunscreen[:100]), nil); !bytes.Equal(sealed, want) {
		t.Fatal("in-place seal differs from a copying seal")
	}
	opened, err := a.Open(sealed[:0], 77, sealed, nil)
	if err != nil || string(opened) != sunscreen[:100] {
		t.Fatalf("in-place open: %q, %v", opened, err)
	}
}

// RFC 8439 §2.4.2: ChaCha20 encryption with block counter 1. Its nonce is
// Nonce(0x4a000000), so this pins the nonce layout and the starting counter
// together.
func TestChaCha20XORStartsAtCounterOne(t *testing.T) {
	key := [32]byte(seq(0, 32))
	nonce := Nonce(0x4a000000)
	want := unhex(t, `
		6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b
		f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8
		07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736
		5af90bbf74a35be6b40b8eedf2785e42874d`)
	got := make([]byte, len(sunscreen))
	ChaCha20XOR(got, []byte(sunscreen), &key, &nonce)
	if !bytes.Equal(got, want) {
		t.Fatalf("ChaCha20XOR = %x\nwant          %x", got, want)
	}
	// Same operation decrypts, in place.
	ChaCha20XOR(got, got, &key, &nonce)
	if string(got) != sunscreen {
		t.Fatalf("decrypt = %q", got)
	}
}

// RFC 8439 §2.3.2: the block function at counter 1. XORing zeros exposes the
// first key-stream block, which must be block 1, not block 0.
func TestChaCha20XORFirstBlockIsRFC8439Block1(t *testing.T) {
	key := [32]byte(seq(0, 32))
	nonce := [12]byte(unhex(t, "000000090000004a00000000"))
	want := unhex(t, `
		10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e
		d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e`)
	got := make([]byte, 64)
	ChaCha20XOR(got, got, &key, &nonce)
	if !bytes.Equal(got, want) {
		t.Fatalf("key stream block = %x\nwant               %x", got, want)
	}
}

func BenchmarkAEADSeal1K(b *testing.B) {
	key := [32]byte(seq(1, 32))
	a := NewAEAD(&key)
	msg := make([]byte, 1024)
	out := make([]byte, 0, len(msg)+AEADTagSize)
	b.SetBytes(int64(len(msg)))
	for i := 0; b.Loop(); i++ {
		out = a.Seal(out[:0], uint64(i), msg, nil)
	}
}

func BenchmarkAEADOpen1K(b *testing.B) {
	key := [32]byte(seq(1, 32))
	a := NewAEAD(&key)
	ct := a.Seal(nil, 3, make([]byte, 1024), nil)
	out := make([]byte, 0, 1024)
	b.SetBytes(1024)
	for b.Loop() {
		var err error
		if out, err = a.Open(out[:0], 3, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}
