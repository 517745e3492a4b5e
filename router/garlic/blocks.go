package garlic

import (
	"encoding/binary"
	"fmt"

	"i2pbridge/router/i2np"
)

// BlockMessageNumbers is the Message Numbers block (ecies.rst §"Message
// Numbers"): the index of the last tag sent in the previous tag set. i2pd
// 2.45 neither sends nor reads it (HandlePayload logs it as unknown); we
// parse it and otherwise ignore it too.
const BlockMessageNumbers BlockType = 6

// Sizes of the ratchet blocks' data (ecies.rst §"5) Payload").
const (
	nextKeyShortLen   = 3  // flag, key ID
	nextKeyLongLen    = 35 // flag, key ID, X25519 public key
	ackEntryLen       = 4  // tag set ID, N
	ackRequestLen     = 1  // flags
	messageNumbersLen = 2  // PN
	optionsMinLen     = 21 // ver … rdelay
	terminationMinLen = 1  // reason
)

// MaxBlockDataLen is the largest data a single block may carry: a
// ChaCha20-Poly1305 frame is at most 65535 bytes including the 16-byte MAC
// and the 3-byte block header (ecies.rst §"Unencrypted data": "Maximum
// single block data size is 65516 bytes").
const MaxBlockDataLen = 65516

// MaxRatchetPayloadLen is the largest payload inside one ratchet AEAD frame
// (ecies.rst §"Unencrypted data": 65535 − 16).
const MaxRatchetPayloadLen = 65519

// NextKey flag bits (ecies.rst §"Next DH Ratchet Public Key"; i2pd's
// ECIESX25519_NEXT_KEY_*_FLAG).
const (
	NextKeyPresent        = 0x01 // bit 0: a 32-byte public key follows
	NextKeyReverse        = 0x02 // bit 1: reverse key (from the tag receiver)
	NextKeyRequestReverse = 0x04 // bit 2: ask for a new reverse key; only without bit 1
)

// NextKey is a Next DH Ratchet Public Key block (type 7):
//
//	offset size field
//	0      1    flag: bit 0 key present, bit 1 reverse, bit 2 request reverse
//	1      2    key ID, big endian, 0-32767
//	3      32   X25519 public key, little endian; only with bit 0
//
// Size is 3 or 35 and must agree with bit 0. Flags keeps the unused bits
// 7-3 so that parsing and appending round-trip; senders leave them 0.
type NextKey struct {
	Flags uint8
	KeyID uint16
	Key   [32]byte // only with NextKeyPresent
}

// HasKey reports whether the block carries a public key.
func (k NextKey) HasKey() bool { return k.Flags&NextKeyPresent != 0 }

// IsReverse reports whether the block comes from the tag receiver, in
// answer to a forward key.
func (k NextKey) IsReverse() bool { return k.Flags&NextKeyReverse != 0 }

// RequestsReverse reports whether a forward key asks the tag receiver for
// a new key of its own.
func (k NextKey) RequestsReverse() bool {
	return !k.IsReverse() && k.Flags&NextKeyRequestReverse != 0
}

func (k NextKey) dataLen() int {
	if k.HasKey() {
		return nextKeyLongLen
	}
	return nextKeyShortLen
}

// Len is the block length: 6 or 38.
func (k NextKey) Len() int { return BlockHeaderLen + k.dataLen() }

// Append appends the whole block to b. A key ID above 32767 is refused
// (ErrMalformed): the spec caps it there, and the ratchet never makes one.
func (k NextKey) Append(b []byte) ([]byte, error) {
	if k.KeyID > MaxKeyID {
		return b, fmt.Errorf("%w: NextKey key ID %d above %d", ErrMalformed, k.KeyID, MaxKeyID)
	}
	b = append(b, byte(BlockNextKey))
	b = binary.BigEndian.AppendUint16(b, uint16(k.dataLen()))
	b = append(b, k.Flags)
	b = binary.BigEndian.AppendUint16(b, k.KeyID)
	if k.HasKey() {
		b = append(b, k.Key[:]...)
	}
	return b, nil
}

// ParseNextKey reads a whole NextKey block from the start of b.
func ParseNextKey(b []byte) (NextKey, int, error) {
	data, n, err := parseTyped(b, BlockNextKey)
	if err != nil {
		return NextKey{}, 0, err
	}
	k, err := decodeNextKey(data)
	return k, n, err
}

func decodeNextKey(d []byte) (NextKey, error) {
	if len(d) != nextKeyShortLen && len(d) != nextKeyLongLen {
		return NextKey{}, fmt.Errorf("%w: NextKey block of %d bytes, want 3 or 35", ErrMalformed, len(d))
	}
	k := NextKey{Flags: d[0], KeyID: binary.BigEndian.Uint16(d[1:3])}
	if (len(d) == nextKeyLongLen) != k.HasKey() {
		return NextKey{}, fmt.Errorf("%w: NextKey of %d bytes with flag %#02x", ErrMalformed, len(d), k.Flags)
	}
	if k.KeyID > MaxKeyID {
		return NextKey{}, fmt.Errorf("%w: NextKey key ID %d above %d", ErrMalformed, k.KeyID, MaxKeyID)
	}
	if k.HasKey() {
		copy(k.Key[:], d[3:])
	}
	return k, nil
}

// Ack identifies one received Existing Session message: the ID of the tag
// set its tag came from and its index N in that tag set (ecies.rst
// §"Ack").
type Ack struct {
	TagSetID uint16
	N        uint16
}

// AckBlock is an Ack block (type 8): one or more acks of 4 bytes each,
//
//	offset size field
//	0      2    tag set ID, big endian
//	2      2    N, big endian
//	…           more acks
type AckBlock []Ack

// Len is the block length.
func (a AckBlock) Len() int { return BlockHeaderLen + ackEntryLen*len(a) }

// Append appends the whole block to b. An empty list or one too long for
// a block is refused.
func (a AckBlock) Append(b []byte) ([]byte, error) {
	if len(a) == 0 {
		return b, fmt.Errorf("%w: Ack block without acks", ErrMalformed)
	}
	if ackEntryLen*len(a) > MaxBlockDataLen {
		return b, fmt.Errorf("%w: %d acks in one block", ErrTooLarge, len(a))
	}
	b = append(b, byte(BlockAck))
	b = binary.BigEndian.AppendUint16(b, uint16(ackEntryLen*len(a)))
	for _, k := range a {
		b = binary.BigEndian.AppendUint16(b, k.TagSetID)
		b = binary.BigEndian.AppendUint16(b, k.N)
	}
	return b, nil
}

// ParseAckBlock reads a whole Ack block from the start of b.
func ParseAckBlock(b []byte) (AckBlock, int, error) {
	data, n, err := parseTyped(b, BlockAck)
	if err != nil {
		return nil, 0, err
	}
	a, err := decodeAcks(data)
	return a, n, err
}

func decodeAcks(d []byte) (AckBlock, error) {
	if len(d) == 0 || len(d)%ackEntryLen != 0 {
		return nil, fmt.Errorf("%w: Ack block of %d bytes, want a positive multiple of 4", ErrMalformed, len(d))
	}
	a := make(AckBlock, 0, len(d)/ackEntryLen)
	for i := 0; i < len(d); i += ackEntryLen {
		a = append(a, Ack{TagSetID: binary.BigEndian.Uint16(d[i:]), N: binary.BigEndian.Uint16(d[i+2:])})
	}
	return a, nil
}

// Termination is a Termination block (type 4): a reason and optional
// additional data (ecies.rst §"Termination"). Reason 0 is a normal close,
// 1 "termination received".
type Termination struct {
	Reason uint8
	Data   []byte
}

// Len is the block length.
func (t Termination) Len() int { return BlockHeaderLen + terminationMinLen + len(t.Data) }

// Append appends the whole block to b.
func (t Termination) Append(b []byte) ([]byte, error) {
	if terminationMinLen+len(t.Data) > MaxBlockDataLen {
		return b, fmt.Errorf("%w: Termination data of %d bytes", ErrTooLarge, len(t.Data))
	}
	b = append(b, byte(BlockTermination))
	b = binary.BigEndian.AppendUint16(b, uint16(terminationMinLen+len(t.Data)))
	b = append(b, t.Reason)
	return append(b, t.Data...), nil
}

// ParseTermination reads a whole Termination block from the start of b.
// Data aliases b.
func ParseTermination(b []byte) (Termination, int, error) {
	data, n, err := parseTyped(b, BlockTermination)
	if err != nil {
		return Termination{}, 0, err
	}
	t, err := decodeTermination(data)
	return t, n, err
}

func decodeTermination(d []byte) (Termination, error) {
	if len(d) < terminationMinLen {
		return Termination{}, fmt.Errorf("%w: Termination block without a reason", ErrMalformed)
	}
	return Termination{Reason: d[0], Data: d[1:]}, nil
}

// Options is an Options block (type 5), which ecies.rst §"Options" leaves
// "UNIMPLEMENTED, for further study" and i2pd 2.45 ignores. The fields are
// decoded so that a peer's values can be logged; the ratchet does not act
// on them.
//
//	offset size field
//	0      1    ver, 0
//	1      1    flags
//	2      1    STL, session tag length, 8
//	3      2    STimeout, idle timeout in seconds
//	5      2    SOTW, sender outbound tag window
//	7      2    RITW, receiver inbound tag window
//	9      4    tmin, tmax, rmin, rmax (4.4 fixed point padding ratios)
//	13     2    tdmy
//	15     2    rdmy
//	17     2    tdelay
//	19     2    rdelay
//	21     …    more options
type Options struct {
	Version, Flags, TagLen uint8
	Timeout, SOTW, RITW    uint16
	TMin, TMax, RMin, RMax uint8
	TDummy, RDummy         uint16
	TDelay, RDelay         uint16
	More                   []byte
}

// Len is the block length.
func (o Options) Len() int { return BlockHeaderLen + optionsMinLen + len(o.More) }

// Append appends the whole block to b.
func (o Options) Append(b []byte) ([]byte, error) {
	if optionsMinLen+len(o.More) > MaxBlockDataLen {
		return b, fmt.Errorf("%w: Options with %d more bytes", ErrTooLarge, len(o.More))
	}
	b = append(b, byte(BlockOptions))
	b = binary.BigEndian.AppendUint16(b, uint16(optionsMinLen+len(o.More)))
	b = append(b, o.Version, o.Flags, o.TagLen)
	for _, v := range []uint16{o.Timeout, o.SOTW, o.RITW} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	b = append(b, o.TMin, o.TMax, o.RMin, o.RMax)
	for _, v := range []uint16{o.TDummy, o.RDummy, o.TDelay, o.RDelay} {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return append(b, o.More...), nil
}

// ParseOptions reads a whole Options block from the start of b. More
// aliases b.
func ParseOptions(b []byte) (Options, int, error) {
	data, n, err := parseTyped(b, BlockOptions)
	if err != nil {
		return Options{}, 0, err
	}
	o, err := decodeOptions(data)
	return o, n, err
}

func decodeOptions(d []byte) (Options, error) {
	if len(d) < optionsMinLen {
		return Options{}, fmt.Errorf("%w: Options block of %d bytes, want at least %d", ErrMalformed, len(d), optionsMinLen)
	}
	u16 := func(i int) uint16 { return binary.BigEndian.Uint16(d[i:]) }
	return Options{
		Version: d[0], Flags: d[1], TagLen: d[2],
		Timeout: u16(3), SOTW: u16(5), RITW: u16(7),
		TMin: d[9], TMax: d[10], RMin: d[11], RMax: d[12],
		TDummy: u16(13), RDummy: u16(15), TDelay: u16(17), RDelay: u16(19),
		More: d[optionsMinLen:],
	}, nil
}

// parseTyped reads one block of type want from the start of b and returns
// its data.
func parseTyped(b []byte, want BlockType) ([]byte, int, error) {
	k, n, err := ParseBlock(b)
	if err != nil {
		return nil, 0, err
	}
	if k.Type != want {
		return nil, 0, fmt.Errorf("%w: block type %d, want %d", ErrMalformed, k.Type, want)
	}
	return k.Data, n, nil
}

// RatchetPayload is the decrypted payload of a New Session, New Session
// Reply or Existing Session message, block by block (ecies.rst §"5)
// Payload"). Unknown block types are kept in Unknown and otherwise ignored,
// as the spec requires ("receivers MUST ignore blocks with unknown type
// numbers").
//
// Append writes the blocks in one canonical order, close to i2pd's
// CreatePayload: DateTime, Options, cloves (a LeaseSet clove first),
// AckRequest, Ack, NextKey blocks in slice order, MessageNumbers, unknown
// blocks, Termination, Padding. Termination is the last block before
// padding and padding the last block, as ecies.rst §"Block Ordering Rules"
// asks.
type RatchetPayload struct {
	DateTime    uint32 // seconds since the epoch
	HasDateTime bool
	Options     *Options
	Cloves      []i2np.Clove
	AckRequest  bool
	// AckRequestFlags is the AckRequest block's flags byte, kept so that
	// parsing and appending round-trip; bits 7-0 are unused and sent as 0.
	AckRequestFlags uint8
	Acks            []Ack // all Ack blocks, concatenated
	// NextKeys holds at most two blocks: ecies.rst allows a forward and a
	// reverse key in one frame.
	NextKeys    []NextKey
	PN          uint16 // Message Numbers block; HasPN says whether there was one
	HasPN       bool
	Termination *Termination
	Unknown     []Block
	// Padding is the size of the padding block, -1 for none.
	Padding int
}

// maxNextKeys is the most NextKey blocks one frame may carry (ecies.rst
// §"Block Ordering Rules": "There may be up to two Next Key blocks").
const maxNextKeys = 2

// ParseRatchetPayload parses a decrypted ratchet payload. It refuses
// malformed known blocks, a second DateTime, Options, AckRequest,
// MessageNumbers or Termination block, more than two NextKey blocks, and
// blocks after the padding. Data and byte slices alias b; cloves are
// copied by i2np.ParseClove.
func ParseRatchetPayload(b []byte) (RatchetPayload, error) {
	blocks, err := ParseBlocks(b)
	if err != nil {
		return RatchetPayload{}, err
	}
	p := RatchetPayload{Padding: -1}
	dup := func(i int, what string) error {
		return fmt.Errorf("%w: second %s block (block %d)", ErrMalformed, what, i)
	}
	for i, k := range blocks {
		switch k.Type {
		case BlockDateTime:
			if p.HasDateTime {
				return RatchetPayload{}, dup(i, "DateTime")
			}
			if len(k.Data) != dateTimeLen {
				return RatchetPayload{}, fmt.Errorf("%w: DateTime block of %d bytes, want %d", ErrMalformed, len(k.Data), dateTimeLen)
			}
			p.DateTime, p.HasDateTime = binary.BigEndian.Uint32(k.Data), true
		case BlockOptions:
			if p.Options != nil {
				return RatchetPayload{}, dup(i, "Options")
			}
			o, err := decodeOptions(k.Data)
			if err != nil {
				return RatchetPayload{}, err
			}
			p.Options = &o
		case BlockGarlicClove:
			c, _, err := i2np.ParseClove(k.Data)
			if err != nil {
				return RatchetPayload{}, fmt.Errorf("%w: clove in block %d: %w", ErrMalformed, i, err)
			}
			p.Cloves = append(p.Cloves, c)
		case BlockAckRequest:
			if p.AckRequest {
				return RatchetPayload{}, dup(i, "AckRequest")
			}
			if len(k.Data) != ackRequestLen {
				return RatchetPayload{}, fmt.Errorf("%w: AckRequest block of %d bytes, want %d", ErrMalformed, len(k.Data), ackRequestLen)
			}
			p.AckRequest, p.AckRequestFlags = true, k.Data[0]
		case BlockAck:
			a, err := decodeAcks(k.Data)
			if err != nil {
				return RatchetPayload{}, err
			}
			p.Acks = append(p.Acks, a...)
		case BlockNextKey:
			if len(p.NextKeys) == maxNextKeys {
				return RatchetPayload{}, fmt.Errorf("%w: more than %d NextKey blocks", ErrMalformed, maxNextKeys)
			}
			nk, err := decodeNextKey(k.Data)
			if err != nil {
				return RatchetPayload{}, err
			}
			p.NextKeys = append(p.NextKeys, nk)
		case BlockMessageNumbers:
			if p.HasPN {
				return RatchetPayload{}, dup(i, "MessageNumbers")
			}
			if len(k.Data) != messageNumbersLen {
				return RatchetPayload{}, fmt.Errorf("%w: MessageNumbers block of %d bytes, want %d", ErrMalformed, len(k.Data), messageNumbersLen)
			}
			p.PN, p.HasPN = binary.BigEndian.Uint16(k.Data), true
		case BlockTermination:
			if p.Termination != nil {
				return RatchetPayload{}, dup(i, "Termination")
			}
			t, err := decodeTermination(k.Data)
			if err != nil {
				return RatchetPayload{}, err
			}
			p.Termination = &t
		case BlockPadding:
			p.Padding = len(k.Data)
		default:
			p.Unknown = append(p.Unknown, k)
		}
	}
	return p, nil
}

// Append encodes the payload in the canonical order (see RatchetPayload).
// Padding is written as zeros: it is inside the AEAD, and zeros are what
// i2pd sends.
func (p RatchetPayload) Append(b []byte) ([]byte, error) {
	start := len(b)
	fail := func(err error) ([]byte, error) { return b[:start], err }
	var err error
	if p.HasDateTime {
		b = append(b, byte(BlockDateTime), 0, dateTimeLen)
		b = binary.BigEndian.AppendUint32(b, p.DateTime)
	}
	if p.Options != nil {
		if b, err = p.Options.Append(b); err != nil {
			return fail(err)
		}
	}
	for i, c := range p.Cloves {
		if b, err = appendClove(b, c); err != nil {
			return fail(fmt.Errorf("garlic: clove %d: %w", i, err))
		}
	}
	if p.AckRequest {
		b = append(b, byte(BlockAckRequest), 0, ackRequestLen, p.AckRequestFlags)
	}
	if len(p.Acks) > 0 {
		if b, err = AckBlock(p.Acks).Append(b); err != nil {
			return fail(err)
		}
	}
	if len(p.NextKeys) > maxNextKeys {
		return fail(fmt.Errorf("%w: %d NextKey blocks, limit %d", ErrMalformed, len(p.NextKeys), maxNextKeys))
	}
	for _, k := range p.NextKeys {
		if b, err = k.Append(b); err != nil {
			return fail(err)
		}
	}
	if p.HasPN {
		b = append(b, byte(BlockMessageNumbers), 0, messageNumbersLen)
		b = binary.BigEndian.AppendUint16(b, p.PN)
	}
	if b, err = AppendBlocks(b, p.Unknown); err != nil {
		return fail(err)
	}
	if p.Termination != nil {
		if b, err = p.Termination.Append(b); err != nil {
			return fail(err)
		}
	}
	if p.Padding >= 0 {
		if p.Padding > MaxBlockDataLen {
			return fail(fmt.Errorf("%w: padding of %d bytes, limit %d", ErrTooLarge, p.Padding, MaxBlockDataLen))
		}
		b = append(b, byte(BlockPadding))
		b = binary.BigEndian.AppendUint16(b, uint16(p.Padding))
		b = append(b, make([]byte, p.Padding)...)
	}
	return b, nil
}

// Len is the encoded length.
func (p RatchetPayload) Len() int {
	n := 0
	if p.HasDateTime {
		n += BlockHeaderLen + dateTimeLen
	}
	if p.Options != nil {
		n += p.Options.Len()
	}
	for _, c := range p.Cloves {
		n += BlockHeaderLen + c.Len()
	}
	if p.AckRequest {
		n += BlockHeaderLen + ackRequestLen
	}
	if len(p.Acks) > 0 {
		n += AckBlock(p.Acks).Len()
	}
	for _, k := range p.NextKeys {
		n += k.Len()
	}
	if p.HasPN {
		n += BlockHeaderLen + messageNumbersLen
	}
	for _, k := range p.Unknown {
		n += k.Len()
	}
	if p.Termination != nil {
		n += p.Termination.Len()
	}
	if p.Padding >= 0 {
		n += BlockHeaderLen + p.Padding
	}
	return n
}

// appendClove appends a Garlic Clove block (type 11) holding c.
func appendClove(b []byte, c i2np.Clove) ([]byte, error) {
	hdr := len(b)
	b = append(b, byte(BlockGarlicClove), 0, 0)
	out, err := c.Append(b)
	if err != nil {
		return b[:hdr], err
	}
	size := len(out) - hdr - BlockHeaderLen
	if size > MaxBlockDataLen {
		return b[:hdr], fmt.Errorf("%w: clove of %d bytes, limit %d", ErrTooLarge, size, MaxBlockDataLen)
	}
	binary.BigEndian.PutUint16(out[hdr+1:], uint16(size))
	return out, nil
}
