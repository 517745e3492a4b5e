package ntcp2

import (
	"fmt"
	"math"

	"i2pbridge/router/crypto"
)

// DataKeys are one side's data phase keys (ntcp2.rst §"Key Derivation
// Function (KDF) (for data phase)"), already oriented: Send/SendSip for
// frames this side writes, Recv/RecvSip for frames it reads. Alice sends with
// k_ab and sipkeys_ab; Bob sends with k_ba and sipkeys_ba.
//
// Each SipHash half is the 32-byte sipkeys value of the spec:
//
//	offset  size  field
//	0       8     sipk1 (little endian)
//	8       8     sipk2 (little endian)
//	16      8     sipiv
//	24      8     unused
type DataKeys struct {
	Send, Recv       [32]byte
	SendSip, RecvSip [32]byte
}

// FrameSealer writes data phase frames in one direction:
//
//	obfuscated length(2) = big endian(len(AEAD frame) XOR SipHash mask)
//	AEAD frame           = ChaCha20-Poly1305(k, n, no associated data)
//
// n counts frames from 0 (ntcp2.rst §"4) Data Phase"). It is not safe for
// concurrent use: the length mask chain and the nonce must advance in the
// order the frames go out, so a Session seals only in its sender.
type FrameSealer struct {
	aead *crypto.AEAD
	obf  *crypto.LengthObfuscator
	n    uint64
}

// NewFrameSealer keys a sealer with a ChaCha20 key and its direction's
// 32-byte SipHash material.
func NewFrameSealer(key, sip *[32]byte) *FrameSealer {
	return &FrameSealer{aead: crypto.NewAEAD(key), obf: crypto.NewLengthObfuscator(sip)}
}

// Seal appends one frame carrying payload (at most MaxPayloadLen bytes of
// blocks) to dst: the 2-byte obfuscated length, then the ciphertext and tag.
func (s *FrameSealer) Seal(dst, payload []byte) ([]byte, error) {
	if len(payload) > MaxPayloadLen {
		return dst, fmt.Errorf("ntcp2: seal frame: %w: payload %d bytes, limit %d", ErrTooLarge, len(payload), MaxPayloadLen)
	}
	// The spec forbids sending nonce 2^64-1; the session must end first.
	if s.n == math.MaxUint64 {
		return dst, fmt.Errorf("ntcp2: seal frame: %w", crypto.ErrNonceExhausted)
	}
	l := s.obf.EncodeLength(uint16(len(payload) + macLen))
	dst = append(dst, l[0], l[1])
	dst = s.aead.Seal(dst, s.n, payload, nil)
	s.n++
	return dst, nil
}

// Sent returns the number of frames sealed so far.
func (s *FrameSealer) Sent() uint64 { return s.n }

// FrameOpener reads data phase frames in one direction; the counterpart of
// FrameSealer. Call Length with each 2-byte length field, then Open with the
// frame it announces, strictly alternating. Not safe for concurrent use.
type FrameOpener struct {
	aead *crypto.AEAD
	obf  *crypto.LengthObfuscator
	n    uint64
}

// NewFrameOpener keys an opener like NewFrameSealer.
func NewFrameOpener(key, sip *[32]byte) *FrameOpener {
	return &FrameOpener{aead: crypto.NewAEAD(key), obf: crypto.NewLengthObfuscator(sip)}
}

// Length removes the SipHash mask from the next length field and returns
// the AEAD frame length to read (16..65535). A length below 16 cannot hold
// a MAC: the spec treats that like an AEAD failure (ntcp2.rst §"AEAD Error
// Handling": "Take the same error action for an invalid length field
// value").
func (o *FrameOpener) Length(field [2]byte) (int, error) {
	n := int(o.obf.DecodeLength(field))
	if n < macLen {
		return 0, fmt.Errorf("ntcp2: frame length %d: %w: shorter than the %d-byte MAC", n, ErrLength, macLen)
	}
	return n, nil
}

// Open authenticates and decrypts one AEAD frame and appends the payload to
// dst; frame[:0] as dst decrypts in place. The counter of valid frames
// (Received) advances only on success.
func (o *FrameOpener) Open(dst, frame []byte) ([]byte, error) {
	if len(frame) < macLen {
		return dst, fmt.Errorf("ntcp2: open frame: %w: %d bytes", ErrLength, len(frame))
	}
	if o.n == math.MaxUint64 {
		return dst, fmt.Errorf("ntcp2: open frame: %w", crypto.ErrNonceExhausted)
	}
	out, err := o.aead.Open(dst, o.n, frame, nil)
	if err != nil {
		return dst, fmt.Errorf("ntcp2: open frame %d: %w", o.n, err)
	}
	o.n++
	return out, nil
}

// Received returns the number of valid frames opened: the value a
// Termination block reports.
func (o *FrameOpener) Received() uint64 { return o.n }
