package ntcp2

import (
	"encoding/binary"
	"fmt"
)

// BlockType is the one-byte block identifier of the NTCP2 payload format
// (ntcp2.rst §"Unencrypted data").
type BlockType uint8

// Block types. 224-253 are reserved for experiments and 255 for extension;
// receivers skip every type they do not know, by its size.
const (
	BlockDateTime    BlockType = 0
	BlockOptions     BlockType = 1
	BlockRouterInfo  BlockType = 2
	BlockI2NP        BlockType = 3
	BlockTermination BlockType = 4
	BlockPadding     BlockType = 254
)

// Payload limits (ntcp2.rst §"Raw contents", §"Unencrypted data").
//
//	frame on the wire   2-byte obfuscated length + AEAD frame
//	AEAD frame          16..65535 bytes: ciphertext + 16-byte Poly1305 tag
//	plaintext payload   0..65519 bytes of blocks
//	block               type(1) size(2, big endian) data(size)
const (
	BlockHeaderLen    = 3
	MaxFrameLen       = 65535                          // AEAD frame, tag included
	MaxPayloadLen     = MaxFrameLen - macLen           // 65519
	MaxBlockDataLen   = MaxPayloadLen - BlockHeaderLen // 65516
	macLen            = 16
	dateTimeLen       = 4
	optionsMinLen     = 12
	terminationMinLen = 9
	// I2NPHeaderLen is the short I2NP header NTCP2 uses: type(1) msg
	// id(4) expiration seconds(4) (ntcp2.rst §"I2NP Message").
	I2NPHeaderLen = 9
	// MaxI2NPMessageLen is the largest I2NP message, counted with the full
	// 16-byte header, that i2pd 2.45 accepts (I2NPProtocol.h
	// I2NP_MAX_MESSAGE_SIZE); NTCP2 itself could carry 65507 body bytes.
	MaxI2NPMessageLen = 62708
	// MaxI2NPBodyLen is the body limit that follows from it.
	MaxI2NPBodyLen = MaxI2NPMessageLen - 16
)

// Block is one block of an NTCP2 payload. Len counts the 3-byte header;
// Append writes header and data.
type Block interface {
	BlockType() BlockType
	Len() int
	Append(b []byte) ([]byte, error)
}

// DateTime carries the sender's clock, Unix seconds (ntcp2.rst §"DateTime"):
//
//	type 0, size 4: timestamp(4, big endian)
type DateTime struct {
	Seconds uint32
}

func (DateTime) BlockType() BlockType { return BlockDateTime }
func (DateTime) Len() int             { return BlockHeaderLen + dateTimeLen }
func (d DateTime) Append(b []byte) ([]byte, error) {
	b = appendHeader(b, BlockDateTime, dateTimeLen)
	return binary.BigEndian.AppendUint32(b, d.Seconds), nil
}

// Options carries padding and dummy-traffic parameters (ntcp2.rst
// §"Options"). i2pd 2.45 neither sends nor interprets it; we parse it so
// that a peer's block is checked and skipped cleanly.
//
//	type 1, size >= 12: tmin tmax rmin rmax (4.4 fixed point, 1 byte each)
//	                    tdmy rdmy tdelay rdelay (2 bytes each) more_options
type Options struct {
	TMin, TMax, RMin, RMax         uint8
	TDummy, RDummy, TDelay, RDelay uint16
	More                           []byte
}

func (Options) BlockType() BlockType { return BlockOptions }
func (o Options) Len() int           { return BlockHeaderLen + optionsMinLen + len(o.More) }
func (o Options) Append(b []byte) ([]byte, error) {
	n := optionsMinLen + len(o.More)
	if n > MaxBlockDataLen {
		return b, fmt.Errorf("ntcp2: options block: %w: %d bytes", ErrTooLarge, n)
	}
	b = appendHeader(b, BlockOptions, n)
	b = append(b, o.TMin, o.TMax, o.RMin, o.RMax)
	b = binary.BigEndian.AppendUint16(b, o.TDummy)
	b = binary.BigEndian.AppendUint16(b, o.RDummy)
	b = binary.BigEndian.AppendUint16(b, o.TDelay)
	b = binary.BigEndian.AppendUint16(b, o.RDelay)
	return append(b, o.More...), nil
}

// RouterInfoFlagFlood is bit 0 of the RouterInfo block flag: the sender asks
// a floodfill to flood the RouterInfo.
const RouterInfoFlagFlood = 0x01

// RouterInfoBlock carries a RouterInfo, not gzipped (ntcp2.rst
// §"RouterInfo"):
//
//	type 2, size >= 1: flag(1) RouterInfo(size-1)
//
// The RouterInfo stays raw here; data.ParseRouterInfo and Verify it before
// use (the Session does).
type RouterInfoBlock struct {
	Flag       uint8
	RouterInfo []byte
}

func (RouterInfoBlock) BlockType() BlockType { return BlockRouterInfo }
func (r RouterInfoBlock) Len() int           { return BlockHeaderLen + 1 + len(r.RouterInfo) }
func (r RouterInfoBlock) Append(b []byte) ([]byte, error) {
	n := 1 + len(r.RouterInfo)
	if n > MaxBlockDataLen {
		return b, fmt.Errorf("ntcp2: RouterInfo block: %w: %d bytes", ErrTooLarge, n)
	}
	b = appendHeader(b, BlockRouterInfo, n)
	b = append(b, r.Flag)
	return append(b, r.RouterInfo...), nil
}

// I2NPMessage is an I2NP message with the short header NTCP2 uses
// (ntcp2.rst §"I2NP Message"): the 16-byte I2NP header loses its size and
// checksum and its expiration shrinks to seconds.
//
//	type 3, size >= 9: type(1) msg id(4) expiration(4, Unix seconds) body
type I2NPMessage struct {
	Type       uint8
	ID         uint32
	Expiration uint32 // Unix seconds
	Body       []byte
}

func (I2NPMessage) BlockType() BlockType { return BlockI2NP }
func (m I2NPMessage) Len() int           { return BlockHeaderLen + I2NPHeaderLen + len(m.Body) }
func (m I2NPMessage) Append(b []byte) ([]byte, error) {
	n := I2NPHeaderLen + len(m.Body)
	if n > MaxBlockDataLen {
		return b, fmt.Errorf("ntcp2: I2NP block: %w: %d bytes", ErrTooLarge, n)
	}
	b = appendHeader(b, BlockI2NP, n)
	b = append(b, m.Type)
	b = binary.BigEndian.AppendUint32(b, m.ID)
	b = binary.BigEndian.AppendUint32(b, m.Expiration)
	return append(b, m.Body...), nil
}

// Termination ends the session (ntcp2.rst §"Termination"):
//
//	type 4, size >= 9: valid data frames received(8, big endian) reason(1)
//	                   additional data
type Termination struct {
	Frames uint64
	Reason Reason
	Extra  []byte
}

func (Termination) BlockType() BlockType { return BlockTermination }
func (t Termination) Len() int           { return BlockHeaderLen + terminationMinLen + len(t.Extra) }
func (t Termination) Append(b []byte) ([]byte, error) {
	n := terminationMinLen + len(t.Extra)
	if n > MaxBlockDataLen {
		return b, fmt.Errorf("ntcp2: termination block: %w: %d bytes", ErrTooLarge, n)
	}
	b = appendHeader(b, BlockTermination, n)
	b = binary.BigEndian.AppendUint64(b, t.Frames)
	b = append(b, byte(t.Reason))
	return append(b, t.Extra...), nil
}

// Padding is the last block of a frame, random or zero bytes that hide the
// payload length (ntcp2.rst §"Padding"). Inside the AEAD frame its content
// is invisible, so senders may use zeros (i2pd does).
//
//	type 254, size >= 0: padding
type Padding struct {
	Data []byte
}

func (Padding) BlockType() BlockType { return BlockPadding }
func (p Padding) Len() int           { return BlockHeaderLen + len(p.Data) }
func (p Padding) Append(b []byte) ([]byte, error) {
	if len(p.Data) > MaxBlockDataLen {
		return b, fmt.Errorf("ntcp2: padding block: %w: %d bytes", ErrTooLarge, len(p.Data))
	}
	b = appendHeader(b, BlockPadding, len(p.Data))
	return append(b, p.Data...), nil
}

// UnknownBlock is a block of a type this package does not interpret; it
// round-trips unchanged and receivers ignore it ("receivers must ignore
// blocks with unknown identifiers, and treat them as padding").
type UnknownBlock struct {
	Kind BlockType
	Data []byte
}

func (u UnknownBlock) BlockType() BlockType { return u.Kind }
func (u UnknownBlock) Len() int             { return BlockHeaderLen + len(u.Data) }
func (u UnknownBlock) Append(b []byte) ([]byte, error) {
	switch u.Kind {
	case BlockDateTime, BlockOptions, BlockRouterInfo, BlockI2NP, BlockTermination, BlockPadding:
		return b, fmt.Errorf("ntcp2: unknown block: %w: type %d is a known type", ErrPayload, u.Kind)
	}
	if len(u.Data) > MaxBlockDataLen {
		return b, fmt.Errorf("ntcp2: block type %d: %w: %d bytes", u.Kind, ErrTooLarge, len(u.Data))
	}
	b = appendHeader(b, u.Kind, len(u.Data))
	return append(b, u.Data...), nil
}

func appendHeader(b []byte, t BlockType, n int) []byte {
	b = append(b, byte(t))
	return binary.BigEndian.AppendUint16(b, uint16(n))
}

// ParseBlock reads one block from the start of b and returns it with the
// number of bytes consumed. Byte slices in the result alias b. A size field
// that runs past b is ErrTruncated (a block never overruns into the next,
// as the spec demands); a known block with a size its layout cannot have is
// ErrPayload. Unknown types come back as UnknownBlock.
func ParseBlock(b []byte) (Block, int, error) {
	if len(b) < BlockHeaderLen {
		return nil, 0, fmt.Errorf("ntcp2: block header: %w: %d of %d bytes", ErrTruncated, len(b), BlockHeaderLen)
	}
	t := BlockType(b[0])
	size := int(binary.BigEndian.Uint16(b[1:3]))
	if len(b)-BlockHeaderLen < size {
		return nil, 0, fmt.Errorf("ntcp2: block type %d: %w: size %d, %d bytes left", t, ErrTruncated, size, len(b)-BlockHeaderLen)
	}
	d := b[BlockHeaderLen : BlockHeaderLen+size : BlockHeaderLen+size]
	n := BlockHeaderLen + size
	switch t {
	case BlockDateTime:
		if size != dateTimeLen {
			return nil, 0, fmt.Errorf("ntcp2: DateTime block: %w: size %d, want %d", ErrPayload, size, dateTimeLen)
		}
		return DateTime{Seconds: binary.BigEndian.Uint32(d)}, n, nil
	case BlockOptions:
		if size < optionsMinLen {
			return nil, 0, fmt.Errorf("ntcp2: Options block: %w: size %d, minimum %d", ErrPayload, size, optionsMinLen)
		}
		return Options{
			TMin: d[0], TMax: d[1], RMin: d[2], RMax: d[3],
			TDummy: binary.BigEndian.Uint16(d[4:]),
			RDummy: binary.BigEndian.Uint16(d[6:]),
			TDelay: binary.BigEndian.Uint16(d[8:]),
			RDelay: binary.BigEndian.Uint16(d[10:]),
			More:   d[optionsMinLen:],
		}, n, nil
	case BlockRouterInfo:
		if size < 1 {
			return nil, 0, fmt.Errorf("ntcp2: RouterInfo block: %w: size 0, no flag byte", ErrPayload)
		}
		return RouterInfoBlock{Flag: d[0], RouterInfo: d[1:]}, n, nil
	case BlockI2NP:
		if size < I2NPHeaderLen {
			return nil, 0, fmt.Errorf("ntcp2: I2NP block: %w: size %d, minimum %d", ErrPayload, size, I2NPHeaderLen)
		}
		return I2NPMessage{
			Type:       d[0],
			ID:         binary.BigEndian.Uint32(d[1:]),
			Expiration: binary.BigEndian.Uint32(d[5:]),
			Body:       d[I2NPHeaderLen:],
		}, n, nil
	case BlockTermination:
		if size < terminationMinLen {
			return nil, 0, fmt.Errorf("ntcp2: Termination block: %w: size %d, minimum %d", ErrPayload, size, terminationMinLen)
		}
		return Termination{
			Frames: binary.BigEndian.Uint64(d),
			Reason: Reason(d[8]),
			Extra:  d[terminationMinLen:],
		}, n, nil
	case BlockPadding:
		return Padding{Data: d}, n, nil
	default:
		return UnknownBlock{Kind: t, Data: d}, n, nil
	}
}

// ParseBlocks parses a whole decrypted frame payload and checks the data
// phase ordering rules (ntcp2.rst §"Block Ordering Rules"): Padding, if
// present, is last and appears once; Termination, if present, is last
// except for Padding. Byte slices in the result alias payload.
func ParseBlocks(payload []byte) ([]Block, error) {
	var blocks []Block
	seenTermination := false
	for off := 0; off < len(payload); {
		blk, n, err := ParseBlock(payload[off:])
		if err != nil {
			return nil, fmt.Errorf("at offset %d: %w", off, err)
		}
		if len(blocks) > 0 && blocks[len(blocks)-1].BlockType() == BlockPadding {
			return nil, fmt.Errorf("ntcp2: %w: block type %d after Padding", ErrPayload, blk.BlockType())
		}
		if seenTermination && blk.BlockType() != BlockPadding {
			return nil, fmt.Errorf("ntcp2: %w: block type %d after Termination", ErrPayload, blk.BlockType())
		}
		if blk.BlockType() == BlockTermination {
			seenTermination = true
		}
		blocks = append(blocks, blk)
		off += n
	}
	return blocks, nil
}

// AppendBlocks appends the blocks in order.
func AppendBlocks(b []byte, blocks ...Block) ([]byte, error) {
	var err error
	for _, blk := range blocks {
		if b, err = blk.Append(b); err != nil {
			return b, err
		}
	}
	return b, nil
}
