// Package elligator implements Elligator2 for X25519 public keys as I2P's
// ECIES-X25519-AEAD-Ratchet uses it: the ephemeral keys of New Session and
// New Session Reply messages travel as 32-byte representatives that are
// indistinguishable from random bytes, so those messages look like Existing
// Session messages, which start with random tags.
//
// Specification: i2p/i2p.www i2p2www/spec/ecies.rst §"2a) Elligator2"
// (encoding ORs two random bits into the top of byte 31, decoding masks
// them) and §"Definitions" (ENCODE_ELG2, DECODE_ELG2,
// GENERATE_PRIVATE_ELG2). The spec leaves the map itself to the Elligator
// paper (Bernstein, Hamburg, Krasnova, Lange 2013); what i2pd 2.45.0 does
// (libi2pd/Elligator.cpp) is the interoperable definition, and this package
// follows it:
//
//   - Curve25519 in Montgomery form, A = 486662, non-square u = 2.
//   - A public key x is encodable iff −2·x·(x+A) is a square (or zero); about
//     half of all keys are.
//   - The representative is r = sqrt(−x / (2(x+A))) ("low Y") or
//     r = sqrt(−(x+A) / (2x)) ("high Y"), chosen at random by the sender.
//   - Of the two square roots ±r the one with r ≤ (p−1)/2 is taken. This is a
//     magnitude test on the integer, not the parity ("non-negative") rule of
//     field.Element.Absolute; the two pick different roots for about half of
//     all values, and i2pd refuses representatives above (p−1)/2.
//   - r is serialised little endian (so bits 254 and 255 are zero) and the
//     top two bits of byte 31 are set at random.
//   - Decoding masks those two bits, refuses r > (p−1)/2, computes
//     v = −A / (1 + 2r²), and returns x = v if v³ + A·v² + v is a square,
//     else x = −v − A.
//
// Encoding and decoding run in constant time with respect to the key and
// the representative (apart from the public accept/refuse outcome), using
// the field arithmetic of filippo.io/edwards25519/field, the package under
// Go's own crypto/ed25519.
package elligator

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"filippo.io/edwards25519/field"

	"i2pbridge/router/crypto"
)

// Size is the length of a representative and of an X25519 public key.
const Size = 32

// TopBitsMask selects the two random bits of a representative: the top
// bits of its last (most significant) byte.
const TopBitsMask = 0xc0

// Sentinel errors.
var (
	// ErrNotEncodable reports a public key with no Elligator2
	// representative. Half of all keys are like that; pick another.
	ErrNotEncodable = errors.New("elligator: public key is not encodable")
	// ErrOutOfRange reports a representative above (p−1)/2 once its two
	// random bits are masked: i2pd never produces one and refuses it.
	ErrOutOfRange = errors.New("elligator: representative above (p-1)/2")
	// ErrKeyGeneration reports that GenerateKey found no encodable key,
	// which with a working random source does not happen (each try fails
	// with probability about 1/2).
	ErrKeyGeneration = errors.New("elligator: no encodable key generated")
)

var (
	feOne  = new(field.Element).One()
	feTwo  = new(field.Element).Add(feOne, feOne)
	feA    = new(field.Element).Mult32(feOne, 486662)
	feNegA = new(field.Element).Negate(feA)
)

// halfP is (p−1)/2 = 2^254 − 10 as four little-endian 64-bit limbs.
var halfP = [4]uint64{0xfffffffffffffff6, 0xffffffffffffffff, 0xffffffffffffffff, 0x3fffffffffffffff}

// aboveHalfP returns 1 if the canonical little-endian value b is greater
// than (p−1)/2, and 0 otherwise, in constant time: the borrow out of
// (p−1)/2 − b.
func aboveHalfP(b []byte) int {
	var borrow uint64
	for i := range halfP {
		_, borrow = bits.Sub64(halfP[i], binary.LittleEndian.Uint64(b[8*i:]), borrow)
	}
	return int(borrow)
}

// Encode returns the representative of the X25519 public key pub for the
// chosen root (highY as in i2pd's Encode), with the bits of topBits under
// TopBitsMask set in byte 31. Encode(pub, false, 0) and Encode(pub, true, 0)
// are i2pd's non-random encodings (tests/test-elligator.cpp). It fails with
// ErrNotEncodable for keys without a representative, and for the two values
// the map divides by (0 and −A, neither a usable public key).
//
// pub is read as a 256-bit little-endian integer reduced modulo p, as i2pd
// reads it (BN_bin2bn, then modular arithmetic): unlike X25519, which
// ignores bit 255 (RFC 7748 §5), a set bit 255 counts as 2^255 ≡ 19. The
// i2pd test key has that bit set; public keys computed by X25519 never do.
func Encode(pub [Size]byte, highY bool, topBits byte) ([Size]byte, error) {
	x, xA, err := encodable(pub)
	if err != nil {
		return [Size]byte{}, err
	}
	return representative(x, xA, highY, topBits), nil
}

// encodable returns x = pub mod p and x + A if pub has a representative.
func encodable(pub [Size]byte) (x, xA *field.Element, err error) {
	x, err = new(field.Element).SetBytes(pub[:]) // bits 0-254
	if err != nil {
		return nil, nil, fmt.Errorf("elligator encode: %w", err)
	}
	nineteen := new(field.Element).Mult32(feOne, 19)
	x.Add(x, new(field.Element).Select(nineteen, new(field.Element), int(pub[Size-1]>>7)))

	xA = new(field.Element).Add(x, feA)
	zero := new(field.Element)
	if x.Equal(zero) == 1 || xA.Equal(zero) == 1 {
		return nil, nil, fmt.Errorf("%w: %x…", ErrNotEncodable, pub[:4])
	}
	// Encodable iff u·x·(−(x+A)) = −2x(x+A) is not a non-square.
	t := new(field.Element).Multiply(x, xA)
	t.Multiply(t, feTwo)
	t.Negate(t)
	if _, isSquare := new(field.Element).SqrtRatio(t, feOne); isSquare == 0 {
		return nil, nil, fmt.Errorf("%w: %x…", ErrNotEncodable, pub[:4])
	}
	return x, xA, nil
}

// representative computes the encoding of an encodable x.
func representative(x, xA *field.Element, highY bool, topBits byte) [Size]byte {
	// low Y:  r² = −x / (2(x+A));  high Y: r² = −(x+A) / (2x).
	num, den := new(field.Element), new(field.Element)
	if highY {
		num.Negate(xA)
		den.Multiply(feTwo, x)
	} else {
		num.Negate(x)
		den.Multiply(feTwo, xA)
	}
	r, _ := new(field.Element).SqrtRatio(num, den) // a square, as x is encodable

	// Take the root of the smaller magnitude: r ≤ (p−1)/2.
	neg := new(field.Element).Negate(r)
	r.Select(neg, r, aboveHalfP(r.Bytes()))

	var out [Size]byte
	copy(out[:], r.Bytes())
	out[Size-1] |= topBits & TopBitsMask
	return out
}

// EncodeRandom encodes pub with the root and the two top bits chosen by one
// byte from rnd (crypto/rand.Reader when nil): bit 0 picks high Y, bits 6-7
// become the top bits, as in i2pd's random Encode. This is ENCODE_ELG2. The
// byte is read only once pub is known to be encodable.
func EncodeRandom(pub [Size]byte, rnd io.Reader) ([Size]byte, error) {
	x, xA, err := encodable(pub)
	if err != nil {
		return [Size]byte{}, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	var b [1]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return [Size]byte{}, fmt.Errorf("elligator encode: %w: %w", crypto.ErrShortRead, err)
	}
	return representative(x, xA, b[0]&1 == 1, b[0]), nil
}

// Decode returns the X25519 public key a representative stands for
// (DECODE_ELG2). The two top bits are ignored; a representative above
// (p−1)/2 after masking fails with ErrOutOfRange, as in i2pd.
func Decode(repr [Size]byte) ([Size]byte, error) {
	var out [Size]byte
	repr[Size-1] &^= TopBitsMask
	if aboveHalfP(repr[:]) == 1 {
		return out, fmt.Errorf("%w: %x…", ErrOutOfRange, repr[28:])
	}
	r, err := new(field.Element).SetBytes(repr[:])
	if err != nil {
		return out, fmt.Errorf("elligator decode: %w", err)
	}

	// v = −A / (1 + u·r²); the denominator is never zero because −1/2 is
	// not a square modulo p.
	v := new(field.Element).Square(r)
	v.Multiply(v, feTwo)
	v.Add(v, feOne)
	v.Invert(v)
	v.Multiply(v, feNegA)

	// t = v³ + A·v² + v = v·(v² + A·v + 1)
	t := new(field.Element).Square(v)
	av := new(field.Element).Multiply(feA, v)
	t.Add(t, av)
	t.Add(t, feOne)
	t.Multiply(t, v)
	_, isSquare := new(field.Element).SqrtRatio(t, feOne)

	other := new(field.Element).Subtract(feNegA, v) // −v − A
	x := new(field.Element).Select(v, other, isSquare)
	copy(out[:], x.Bytes())
	return out, nil
}

// maxAttempts bounds GenerateKey: each attempt fails with probability about
// 1/2, so 128 failures in a row mean a broken random source.
const maxAttempts = 128

// GenerateKey makes an X25519 key pair whose public key is encodable and
// returns it with a random representative (GENERATE_PRIVATE_ELG2 followed by
// ENCODE_ELG2). It reads 32 bytes per attempt for the private key and one
// byte for the encoding from rnd (crypto/rand.Reader when nil). Use a fresh
// key for every New Session and New Session Reply (ecies.rst §"2a)
// Elligator2"); keys found unencodable may still serve NTCP2, which does not
// use Elligator2.
func GenerateKey(rnd io.Reader) (keys crypto.X25519Keys, repr [Size]byte, err error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	for range maxAttempts {
		keys, err = crypto.GenerateX25519(rnd)
		if err != nil {
			return crypto.X25519Keys{}, repr, fmt.Errorf("elligator generate: %w", err)
		}
		repr, err = EncodeRandom(keys.Public, rnd)
		if err == nil {
			return keys, repr, nil
		}
		if !errors.Is(err, ErrNotEncodable) {
			return crypto.X25519Keys{}, [Size]byte{}, fmt.Errorf("elligator generate: %w", err)
		}
	}
	return crypto.X25519Keys{}, [Size]byte{}, fmt.Errorf("%w after %d attempts", ErrKeyGeneration, maxAttempts)
}
