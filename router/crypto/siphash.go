package crypto

import (
	"encoding/binary"
	"math/bits"
)

// SipHashKeySize is the SipHash key length: k0 ‖ k1, each 8 bytes little
// endian.
const SipHashKeySize = 16

// SipHash24 is SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
// short-input PRF", 2012) of msg under a 16-byte key whose halves are read
// little endian, as the paper and ntcp2.rst do (sipk1 = key[0:8],
// sipk2 = key[8:16]). The 64-bit result is returned as a number; the paper's
// byte form of it is little endian.
func SipHash24(key *[SipHashKeySize]byte, msg []byte) uint64 {
	k0 := binary.LittleEndian.Uint64(key[0:8])
	k1 := binary.LittleEndian.Uint64(key[8:16])
	// Initialisation: the constants spell "somepseudorandomlygeneratedbytes".
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573

	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}

	// Compression: each full 8-byte word, little endian, with c = 2 rounds.
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		round()
		round()
		v0 ^= m
		msg = msg[8:]
	}
	// The last word holds the remaining 0-7 bytes and the length mod 256 in
	// its top byte.
	var tail [8]byte
	copy(tail[:], msg)
	tail[7] = byte(n)
	m := binary.LittleEndian.Uint64(tail[:])
	v3 ^= m
	round()
	round()
	v0 ^= m

	// Finalisation: d = 4 rounds.
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}

// LengthObfuscator produces the masks that hide NTCP2 data-phase frame
// lengths in one direction (ntcp2.rst §"SipHash obfuscated length"):
//
//	IV[0]   = sipiv, from the data phase KDF
//	IV[n]   = SipHash-2-4(sipk1, sipk2, IV[n-1]), kept as 8 little-endian bytes
//	Mask[n] = IV[n][0] | IV[n][1]<<8  (the low 16 bits of the SipHash output)
//	wire    = big endian (length XOR Mask[n])
//
// The spec's "first 2 bytes of IV[n]" must be read as that little-endian
// number, XORed into the big-endian length (its note: "use the least
// significant two bytes as the Mask"). i2pd does the same
// (NTCP2.cpp: htobe16buf(frameLen ^ le16toh(IV)) on send,
// be16toh(wire) ^ le16toh(IV) on receive); XORing the two IV bytes onto the
// two wire bytes in order would swap them.
//
// Each direction has its own keys and IV, so a session holds two of these:
// one for sending, one for receiving. Not safe for concurrent use.
type LengthObfuscator struct {
	key [SipHashKeySize]byte
	iv  [8]byte
}

// NewLengthObfuscator starts a mask chain from one direction's 32-byte
// SipHash key material (sipkeys_ab or sipkeys_ba of ntcp2.rst §"Key
// Derivation Function (KDF) (for data phase)"):
//
//	offset  size  field
//	0       8     sipk1 (little endian)
//	8       8     sipk2 (little endian)
//	16      8     sipiv
//	24      8     unused
func NewLengthObfuscator(sipKeys *[32]byte) *LengthObfuscator {
	o := &LengthObfuscator{}
	copy(o.key[:], sipKeys[0:16])
	copy(o.iv[:], sipKeys[16:24])
	return o
}

// NextMask advances the chain by one frame and returns that frame's mask.
func (o *LengthObfuscator) NextMask() uint16 {
	binary.LittleEndian.PutUint64(o.iv[:], SipHash24(&o.key, o.iv[:]))
	return binary.LittleEndian.Uint16(o.iv[0:2])
}

// EncodeLength returns the two wire bytes for the next frame of length n
// (the AEAD frame including its tag) and advances the chain.
func (o *LengthObfuscator) EncodeLength(n uint16) [2]byte {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], n^o.NextMask())
	return b
}

// DecodeLength returns the frame length hidden in the next two wire bytes
// and advances the chain.
func (o *LengthObfuscator) DecodeLength(b [2]byte) uint16 {
	return binary.BigEndian.Uint16(b[:]) ^ o.NextMask()
}
