package garlic

import (
	"encoding/binary"
	"fmt"

	"i2pbridge/router/i2np"
)

// BlockType is the type byte of an ECIES garlic payload block (ecies.rst
// §"5) Payload"). The router-level N messages and the tag-only replies use
// the same block format as the ECIES-X25519-AEAD-Ratchet (ecies-routers.rst
// §"Payload").
type BlockType uint8

// Block types of ecies.rst §"5) Payload" that I2P API 0.9.57 defines.
const (
	BlockDateTime    BlockType = 0   // 4-byte seconds since the epoch
	BlockTermination BlockType = 4   // ratchet only
	BlockOptions     BlockType = 5   // ratchet only
	BlockNextKey     BlockType = 7   // ratchet only
	BlockAck         BlockType = 8   // ratchet only
	BlockAckRequest  BlockType = 9   // ratchet only
	BlockGarlicClove BlockType = 11  // delivery instructions, short I2NP header, body
	BlockPadding     BlockType = 254 // must be the last block
)

// BlockHeaderLen is a block's type and 2-byte big-endian size.
const BlockHeaderLen = 3

// dateTimeLen is the size of a DateTime block's data.
const dateTimeLen = 4

// Block is one payload block as it is on the wire:
//
//	offset size field
//	0      1    type
//	1      2    size, big endian
//	3      size data
//
// Data aliases the parsed input.
type Block struct {
	Type BlockType
	Data []byte
}

// ParseBlock reads one block from the start of b.
func ParseBlock(b []byte) (Block, int, error) {
	if len(b) < BlockHeaderLen {
		return Block{}, 0, fmt.Errorf("%w: block header needs %d bytes, have %d", ErrTruncated, BlockHeaderLen, len(b))
	}
	size := int(binary.BigEndian.Uint16(b[1:]))
	if len(b)-BlockHeaderLen < size {
		return Block{}, 0, fmt.Errorf("%w: block type %d of %d bytes, have %d", ErrTruncated, b[0], size, len(b)-BlockHeaderLen)
	}
	return Block{Type: BlockType(b[0]), Data: b[BlockHeaderLen : BlockHeaderLen+size]}, BlockHeaderLen + size, nil
}

// Len is BlockHeaderLen + len(Data).
func (k Block) Len() int { return BlockHeaderLen + len(k.Data) }

// Append appends the encoded block to b.
func (k Block) Append(b []byte) ([]byte, error) {
	if len(k.Data) > 0xffff {
		return b, fmt.Errorf("%w: block type %d of %d bytes, limit 65535", ErrTooLarge, k.Type, len(k.Data))
	}
	b = append(b, byte(k.Type))
	b = binary.BigEndian.AppendUint16(b, uint16(len(k.Data)))
	return append(b, k.Data...), nil
}

// ParseBlocks splits a whole decrypted payload into blocks. Every byte must
// belong to a block, and padding must come last (ecies.rst §"Padding":
// "Padding blocks must be the last block").
func ParseBlocks(b []byte) ([]Block, error) {
	var out []Block
	for len(b) > 0 {
		k, n, err := ParseBlock(b)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", len(out), err)
		}
		if len(out) > 0 && out[len(out)-1].Type == BlockPadding {
			return nil, fmt.Errorf("%w: block type %d after padding", ErrMalformed, k.Type)
		}
		out = append(out, k)
		b = b[n:]
	}
	return out, nil
}

// AppendBlocks appends the blocks in order.
func AppendBlocks(b []byte, blocks []Block) ([]byte, error) {
	start := len(b)
	for _, k := range blocks {
		var err error
		if b, err = k.Append(b); err != nil {
			return b[:start], err
		}
	}
	return b, nil
}

// Payload is the content of a router-level garlic message seen as what a
// router acts on: the DateTime, the cloves and the padding length. Blocks
// of other types are kept in Other, in order, and otherwise ignored, as
// i2pd's HandlePayload does.
type Payload struct {
	// DateTime is the DateTime block's seconds since the epoch; HasDateTime
	// says whether there was one.
	DateTime    uint32
	HasDateTime bool
	Cloves      []i2np.Clove
	// Padding is the size of the padding block, -1 for none.
	Padding int
	Other   []Block
}

// ParsePayload parses a decrypted payload. Cloves must parse (i2np.ParseClove)
// and a DateTime block must have exactly 4 bytes; at most one DateTime is
// allowed.
func ParsePayload(b []byte) (Payload, error) {
	blocks, err := ParseBlocks(b)
	if err != nil {
		return Payload{}, err
	}
	p := Payload{Padding: -1}
	for i, k := range blocks {
		switch k.Type {
		case BlockDateTime:
			if p.HasDateTime {
				return Payload{}, fmt.Errorf("%w: second DateTime block (block %d)", ErrMalformed, i)
			}
			if len(k.Data) != dateTimeLen {
				return Payload{}, fmt.Errorf("%w: DateTime block of %d bytes, want %d", ErrMalformed, len(k.Data), dateTimeLen)
			}
			p.DateTime, p.HasDateTime = binary.BigEndian.Uint32(k.Data), true
		case BlockGarlicClove:
			c, _, err := i2np.ParseClove(k.Data)
			if err != nil {
				return Payload{}, fmt.Errorf("%w: clove in block %d: %w", ErrMalformed, i, err)
			}
			p.Cloves = append(p.Cloves, c)
		case BlockPadding:
			p.Padding = len(k.Data)
		default:
			p.Other = append(p.Other, k)
		}
	}
	return p, nil
}

// Append encodes the payload in the order i2pd's CreateGarlicPayload uses:
// DateTime (when present), the cloves, then the other blocks and a padding
// block of Padding zero bytes (when Padding >= 0). The padding is inside
// the AEAD, so its content is irrelevant; zeros are what i2pd sends.
func (p Payload) Append(b []byte) ([]byte, error) {
	start := len(b)
	if p.HasDateTime {
		b = append(b, byte(BlockDateTime), 0, dateTimeLen)
		b = binary.BigEndian.AppendUint32(b, p.DateTime)
	}
	for i, c := range p.Cloves {
		hdr := len(b)
		b = append(b, byte(BlockGarlicClove), 0, 0)
		var err error
		if b, err = c.Append(b); err != nil {
			return b[:start], fmt.Errorf("garlic: clove %d: %w", i, err)
		}
		size := len(b) - hdr - BlockHeaderLen
		if size > 0xffff {
			return b[:start], fmt.Errorf("%w: clove %d of %d bytes, limit 65535", ErrTooLarge, i, size)
		}
		binary.BigEndian.PutUint16(b[hdr+1:], uint16(size))
	}
	var err error
	if b, err = AppendBlocks(b, p.Other); err != nil {
		return b[:start], err
	}
	if p.Padding >= 0 {
		if p.Padding > 0xffff {
			return b[:start], fmt.Errorf("%w: padding of %d bytes, limit 65535", ErrTooLarge, p.Padding)
		}
		b = append(b, byte(BlockPadding))
		b = binary.BigEndian.AppendUint16(b, uint16(p.Padding))
		b = append(b, make([]byte, p.Padding)...)
	}
	return b, nil
}

// Len is the encoded length.
func (p Payload) Len() int {
	n := 0
	if p.HasDateTime {
		n += BlockHeaderLen + dateTimeLen
	}
	for _, c := range p.Cloves {
		n += BlockHeaderLen + c.Len()
	}
	for _, k := range p.Other {
		n += k.Len()
	}
	if p.Padding >= 0 {
		n += BlockHeaderLen + p.Padding
	}
	return n
}
