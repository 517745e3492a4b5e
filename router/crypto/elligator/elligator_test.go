package elligator

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"i2pbridge/router/crypto"
)

func h32(t testing.TB, s string) [Size]byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil || len(b) != Size {
		t.Fatalf("bad 32-byte hex %q: %v", s, err)
	}
	return [Size]byte(b)
}

// Values from i2pd 2.45.0 tests/test-elligator.cpp.
const (
	i2pdKey            = "33951964003c940878063ccfd0348af42150ca16d2646f2c5856e8338377d880"
	i2pdEncodedKey     = "2820b6b241e0f68a6c4a7fee3d978228ef3ae45533cd410aa91a415331d8612d" // highY = false
	i2pdEncodedKeyHigh = "3cfb87c46c0b4575ca8175e0ed1c0ae9dae79db78df86997c4847b9f20b27718" // highY = true
	i2pdFailedKey      = "e6f66fdf6e230c603c5e6e59a254ea1476a13eb9511b9549846781e12e52230a"
)

func TestEncodeMatchesI2pdVectors(t *testing.T) {
	key := h32(t, i2pdKey)
	for _, tc := range []struct {
		highY bool
		want  string
	}{
		{false, i2pdEncodedKey},
		{true, i2pdEncodedKeyHigh},
	} {
		got, err := Encode(key, tc.highY, 0)
		if err != nil {
			t.Fatalf("Encode(highY=%v): %v", tc.highY, err)
		}
		if want := h32(t, tc.want); got != want {
			t.Errorf("Encode(highY=%v) = %x, want %x", tc.highY, got, want)
		}
		// Both roots stand for the same key: the test key reduced mod p
		// (its bit 255 is set, worth 2^255 ≡ 19; see Encode).
		canonical := bigToLE(new(big.Int).Mod(leToBig(key), p))
		if canonical[0] != key[0]+19 || canonical[31] != key[31]&0x7f {
			t.Fatalf("the i2pd test key no longer has bit 255 set: %x", canonical)
		}
		back, err := Decode(got)
		if err != nil || back != canonical {
			t.Errorf("Decode(Encode(highY=%v)) = %x, %v; want %x", tc.highY, back, err, canonical)
		}
	}
}

func TestDecodeMatchesI2pdVectors(t *testing.T) {
	tests := []struct{ encoded, key string }{
		{
			"e73507d38bae63992b3f57aac48c0abc14509589288457995a2b4ca3490aa207",
			"1e8afffed6bf53fe271ad572473262ded8faec68e5e67ef45ebb82eeba52604f",
		},
		{
			"95a16019041dbefed9832048ede11928d90365f24a38aa7aef1b97e23954101b",
			"794f05ba3e3a72958022468c88981e0be5782be1e1145ce2c3c6fde16ded5363",
		},
		{
			// (p−1)/2 itself: the largest representative i2pd accepts.
			"f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff3f",
			"9cdb525555555555555555555555555555555555555555555555555555555555",
		},
	}
	for _, tc := range tests {
		got, err := Decode(h32(t, tc.encoded))
		if err != nil {
			t.Fatalf("Decode(%s…): %v", tc.encoded[:8], err)
		}
		if want := h32(t, tc.key); got != want {
			t.Errorf("Decode(%s…) = %x, want %x", tc.encoded[:8], got, want)
		}
	}
}

func TestEncodeRefusesI2pdFailedKey(t *testing.T) {
	for _, highY := range []bool{false, true} {
		if _, err := Encode(h32(t, i2pdFailedKey), highY, 0); !errors.Is(err, ErrNotEncodable) {
			t.Errorf("Encode(failed_key, highY=%v) error = %v, want ErrNotEncodable", highY, err)
		}
	}
	if _, err := EncodeRandom(h32(t, i2pdFailedKey), nil); !errors.Is(err, ErrNotEncodable) {
		t.Errorf("EncodeRandom(failed_key) error = %v, want ErrNotEncodable", err)
	}
}

// The two random top bits (ecies.rst §"2a) Elligator2": "OR in 2 random bits
// to MSB") change nothing else and are ignored by Decode.
func TestTopBitsAreRandomAndIgnored(t *testing.T) {
	key := h32(t, i2pdKey)
	plain := h32(t, i2pdEncodedKey)
	for _, top := range []byte{0x00, 0x40, 0x80, 0xc0, 0x3f} {
		got, err := Encode(key, false, top)
		if err != nil {
			t.Fatal(err)
		}
		want := plain
		want[31] |= top & TopBitsMask
		if got != want {
			t.Errorf("Encode(top=%#x) = %x, want %x", top, got, want)
		}
		back, err := Decode(got)
		if err != nil || back != mustDecode(t, plain) {
			t.Errorf("Decode with top bits %#x = %x, %v", top&TopBitsMask, back, err)
		}
	}
}

func mustDecode(t *testing.T, repr [Size]byte) [Size]byte {
	t.Helper()
	k, err := Decode(repr)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// i2pd refuses r > (p−1)/2 (Elligator.cpp Decode: BN_cmp(r, p12) <= 0).
func TestDecodeRefusesRepresentativesAboveHalfP(t *testing.T) {
	for _, s := range []string{
		"f7ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff3f", // (p−1)/2 + 1
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff3f", // 2^254 − 1
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // the same with both top bits
	} {
		if _, err := Decode(h32(t, s)); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Decode(%s…%s) error = %v, want ErrOutOfRange", s[:4], s[60:], err)
		}
	}
}

func TestEncodeRefusesDegenerateKeys(t *testing.T) {
	var zero [Size]byte
	negA := bigToLE(new(big.Int).Sub(p, big.NewInt(486662)))
	for _, k := range [][Size]byte{zero, negA} {
		for _, highY := range []bool{false, true} {
			if _, err := Encode(k, highY, 0); !errors.Is(err, ErrNotEncodable) {
				t.Errorf("Encode(%x…, %v) error = %v, want ErrNotEncodable", k[:4], highY, err)
			}
		}
	}
}

// --- an independent big.Int model of i2pd's Elligator.cpp ------------------

var (
	p    = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	bigA = big.NewInt(486662)
	p12  = new(big.Int).Rsh(new(big.Int).Sub(p, big.NewInt(1)), 1) // (p−1)/2
	p14  = new(big.Int).Rsh(new(big.Int).Sub(p, big.NewInt(1)), 2) // (p−1)/4
	p38  = new(big.Int).Rsh(new(big.Int).Add(p, big.NewInt(3)), 3) // (p+3)/8
	sqm1 = new(big.Int).Exp(big.NewInt(2), p14, p)                 // sqrt(−1)
	inv2 = new(big.Int).ModInverse(big.NewInt(2), p)               // 1/u
	pm1  = new(big.Int).Sub(p, big.NewInt(1))                      // −1
)

func leToBig(b [Size]byte) *big.Int {
	var be [Size]byte
	for i := range b {
		be[Size-1-i] = b[i]
	}
	return new(big.Int).SetBytes(be[:])
}

func bigToLE(x *big.Int) [Size]byte {
	var be, le [Size]byte
	x.FillBytes(be[:])
	for i := range be {
		le[Size-1-i] = be[i]
	}
	return le
}

// refEncode follows the textbook steps with math/big: Legendre symbol by
// Euler's criterion, square root by exponent (p+3)/8 with the sqrt(−1)
// correction, then the magnitude normalisation.
func refEncode(key [Size]byte, highY bool) ([Size]byte, bool) {
	x := leToBig(key)
	xA := new(big.Int).Add(x, bigA)
	xA.Sub(p, xA) // −(x+A)
	u := new(big.Int).Mul(x, xA)
	u.Lsh(u, 1).Mod(u, p)
	if u.Sign() != 0 && new(big.Int).Exp(u, p12, p).Cmp(big.NewInt(1)) != 0 {
		return [Size]byte{}, false
	}
	var r *big.Int
	if highY {
		r = new(big.Int).Mul(new(big.Int).ModInverse(x, p), xA)
	} else {
		r = new(big.Int).Mul(new(big.Int).ModInverse(xA, p), x)
	}
	r.Mul(r, inv2).Mod(r, p)
	root := new(big.Int).Exp(r, p38, p)
	if new(big.Int).Exp(r, p14, p).Cmp(pm1) == 0 {
		root.Mul(root, sqm1).Mod(root, p)
	}
	if root.Cmp(p12) > 0 {
		root.Sub(p, root)
	}
	return bigToLE(root), true
}

func refDecode(repr [Size]byte) ([Size]byte, bool) {
	repr[31] &= 0x3f
	r := leToBig(repr)
	if r.Cmp(p12) > 0 {
		return [Size]byte{}, false
	}
	v := new(big.Int).Mul(r, r)
	v.Lsh(v, 1).Add(v, big.NewInt(1)).ModInverse(v, p)
	v.Mul(v, new(big.Int).Sub(p, bigA)).Mod(v, p)
	t := new(big.Int).Mul(v, v)
	t.Mul(t, new(big.Int).Add(v, bigA))
	t.Add(t, v).Mod(t, p)
	if new(big.Int).Exp(t, p12, p).Cmp(big.NewInt(1)) == 0 {
		return bigToLE(v), true
	}
	x := new(big.Int).Sub(p, v)
	x.Sub(x, bigA).Mod(x, p)
	return bigToLE(x), true
}

// The model must itself reproduce i2pd's vectors before it judges anything.
func TestReferenceModelReproducesI2pdVectors(t *testing.T) {
	if got, ok := refEncode(h32(t, i2pdKey), false); !ok || got != h32(t, i2pdEncodedKey) {
		t.Fatalf("model Encode(low Y) = %x, %v", got, ok)
	}
	if got, ok := refEncode(h32(t, i2pdKey), true); !ok || got != h32(t, i2pdEncodedKeyHigh) {
		t.Fatalf("model Encode(high Y) = %x, %v", got, ok)
	}
	if _, ok := refEncode(h32(t, i2pdFailedKey), false); ok {
		t.Fatal("model encodes failed_key")
	}
	if got, ok := refDecode(h32(t, "e73507d38bae63992b3f57aac48c0abc14509589288457995a2b4ca3490aa207")); !ok ||
		got != h32(t, "1e8afffed6bf53fe271ad572473262ded8faec68e5e67ef45ebb82eeba52604f") {
		t.Fatalf("model Decode = %x, %v", got, ok)
	}
}

// Random public keys and random representatives through both
// implementations: same encodability, same representative for both roots,
// same decoded key. About half of the keys must be encodable.
func TestEncodeDecodeAgreeWithReferenceModel(t *testing.T) {
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	encodable := 0
	const n = 300
	for i := range n {
		var priv [32]byte
		r.Read(priv[:])
		pub := crypto.X25519Public(priv)
		for _, highY := range []bool{false, true} {
			want, wantOK := refEncode(pub, highY)
			got, err := Encode(pub, highY, 0)
			if (err == nil) != wantOK {
				t.Fatalf("key %d %x: Encode error %v, model encodable %v", i, pub, err, wantOK)
			}
			if !wantOK {
				continue
			}
			if got != want {
				t.Fatalf("key %d highY=%v: Encode = %x, model %x", i, highY, got, want)
			}
			if got[31]&TopBitsMask != 0 || leToBig(got).Cmp(p12) > 0 {
				t.Fatalf("key %d: representative %x above (p−1)/2", i, got)
			}
			back, err := Decode(got)
			if err != nil || back != pub {
				t.Fatalf("key %d highY=%v: Decode(Encode) = %x, %v; want %x", i, highY, back, err, pub)
			}
			if highY {
				encodable++
			}
		}

		var repr [32]byte
		r.Read(repr[:])
		repr[31] &= 0x7f // a random value whose magnitude is ≤ (p−1)/2 about half the time
		want, wantOK := refDecode(repr)
		got, err := Decode(repr)
		if (err == nil) != wantOK || got != want {
			t.Fatalf("Decode(%x) = %x, %v; model %x, %v", repr, got, err, want, wantOK)
		}
	}
	if encodable < n*35/100 || encodable > n*65/100 {
		t.Fatalf("%d of %d random keys encodable; expected about half", encodable, n)
	}
}

// --- key generation -----------------------------------------------------------

// findPrivates returns a private key whose public key is encodable and one
// whose public key is not, scanning a fixed sequence.
func findPrivates(t *testing.T) (good, bad [32]byte) {
	t.Helper()
	var haveGood, haveBad bool
	for i := 0; !(haveGood && haveBad); i++ {
		var k [32]byte
		k[0], k[1] = byte(i), byte(i>>8)
		k[31] = 0x40
		_, err := Encode(crypto.X25519Public(k), false, 0)
		switch {
		case err == nil && !haveGood:
			good, haveGood = k, true
		case errors.Is(err, ErrNotEncodable) && !haveBad:
			bad, haveBad = k, true
		}
	}
	return good, bad
}

func TestGenerateKeySkipsUnencodableKeys(t *testing.T) {
	good, bad := findPrivates(t)
	var stream []byte
	stream = append(stream, bad[:]...)  // rejected: no encoding byte is read for it
	stream = append(stream, good[:]...) // accepted
	stream = append(stream, 0xc1)       // encoding byte: high Y, both top bits
	keys, repr, err := GenerateKey(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if keys.Private != good || keys.Public != crypto.X25519Public(good) {
		t.Fatalf("GenerateKey kept private %x, want the second (encodable) one %x", keys.Private, good)
	}
	want, err := Encode(keys.Public, true, 0xc0)
	if err != nil || repr != want {
		t.Fatalf("representative %x, want Encode(pub, highY, 0xc0) = %x (%v)", repr, want, err)
	}
	if back, err := Decode(repr); err != nil || back != keys.Public {
		t.Fatalf("Decode(representative) = %x, %v", back, err)
	}
}

type repeatReader []byte

func (r repeatReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = r[i%len(r)]
	}
	return len(b), nil
}

func TestGenerateKeyGivesUpOnABrokenRandomSource(t *testing.T) {
	_, bad := findPrivates(t)
	if _, _, err := GenerateKey(repeatReader(bad[:])); !errors.Is(err, ErrKeyGeneration) {
		t.Fatalf("error = %v, want ErrKeyGeneration", err)
	}
	good, _ := findPrivates(t)
	if _, _, err := GenerateKey(bytes.NewReader(good[:])); !errors.Is(err, crypto.ErrShortRead) {
		t.Fatalf("reader without the encoding byte: %v, want crypto.ErrShortRead", err)
	}
	if _, _, err := GenerateKey(io.LimitReader(bytes.NewReader(good[:]), 5)); !errors.Is(err, crypto.ErrShortRead) {
		t.Fatalf("short reader: %v, want crypto.ErrShortRead", err)
	}
}

// With the real random source: fresh keys, random roots and top bits.
func TestGenerateKeyWithCryptoRand(t *testing.T) {
	var tops [4]int
	seen := map[[Size]byte]bool{}
	for range 64 {
		keys, repr, err := GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if seen[keys.Private] {
			t.Fatal("GenerateKey repeated a private key")
		}
		seen[keys.Private] = true
		if back, err := Decode(repr); err != nil || back != keys.Public {
			t.Fatalf("Decode(representative) = %x, %v; want %x", back, err, keys.Public)
		}
		tops[repr[31]>>6]++
	}
	for v, n := range tops {
		if n == 0 {
			t.Errorf("top bits %02b never appeared in 64 representatives", v)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	key := h32(b, i2pdKey)
	for b.Loop() {
		if _, err := Encode(key, true, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	repr := h32(b, i2pdEncodedKeyHigh)
	for b.Loop() {
		if _, err := Decode(repr); err != nil {
			b.Fatal(err)
		}
	}
}
