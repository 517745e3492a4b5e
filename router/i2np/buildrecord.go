package i2np

import (
	"encoding/binary"
	"fmt"
	"time"

	"i2pbridge/router/data"
)

// Cleartext build record sizes (tunnel-creation-ecies.rst). Each one plus
// its framing fills an encrypted record exactly:
//
//	long request:  16 (to peer) + 32 (ephemeral key) + 464 + 16 (MAC) = 528
//	long reply:    512 + 16 (MAC)                                      = 528
//	short request: 16 (to peer) + 32 (ephemeral key) + 154 + 16 (MAC) = 218
//	short reply:   202 + 16 (MAC)                                      = 218
const (
	BuildRequestRecordLen      = 464
	BuildReplyRecordLen        = 512
	ShortBuildRequestRecordLen = 154
	ShortBuildReplyRecordLen   = 202
)

// Build request flags (tunnel-creation.rst, byte "flags"; i2pd
// TUNNEL_BUILD_RECORD_*_FLAG). Neither set: intermediate participant. Both
// set is invalid; refusing it is the tunnel layer's job.
const (
	BuildFlagGateway  = 0x80 // bit 7: inbound gateway, accept messages from anyone
	BuildFlagEndpoint = 0x40 // bit 6: outbound endpoint, send to anyone; reply goes to the next hop
)

// Build reply codes: the only two a hop may send (tunnel-creation-ecies.rst,
// chosen to avoid fingerprinting).
const (
	ReplyAccept          = 0
	ReplyRejectBandwidth = 30 // TUNNEL_REJECT_BANDWIDTH
)

// Other build request constants.
const (
	// LayerEncryptionAES is the only layer encryption type (short records,
	// byte 43); i2pd refuses any other.
	LayerEncryptionAES = 0
	// DefaultRequestExpiration is the only supported request expiration,
	// in seconds (10 minutes).
	DefaultRequestExpiration = 600
)

// RequestMinutes returns the request time field for t: whole minutes since
// the epoch, rounded down.
func RequestMinutes(t time.Time) uint32 { return uint32(t.Unix() / 60) }

// emptyMapping is the 2-byte encoding of an empty Mapping.
var emptyMapping = []byte{0, 0}

// parseOptions reads the sized Mapping at b[off:] and the padding after it
// up to end. The Mapping's contents are not checked (i2pd ignores them);
// only its size must fit the record.
func parseOptions(b []byte, off, end int, what string) (opts, pad []byte, err error) {
	size := int(binary.BigEndian.Uint16(b[off:]))
	if 2+size > end-off {
		return nil, nil, fmt.Errorf("%w: %s options Mapping of %d bytes overruns the %d bytes left", ErrMalformed, what, 2+size, end-off)
	}
	return b[off : off+2+size], b[off+2+size : end], nil
}

// appendOptions appends opts (nil: the empty Mapping) and the padding that
// fills room bytes (nil: zeros, as i2pd 2.45 pads).
func appendOptions(b, opts, pad []byte, room int, what string) ([]byte, error) {
	if opts == nil {
		opts = emptyMapping
	}
	if len(opts) < 2 || int(binary.BigEndian.Uint16(opts)) != len(opts)-2 {
		return b, fmt.Errorf("%w: %s options must be a Mapping with its 2-byte size", ErrInvalid, what)
	}
	if len(opts) > room {
		return b, fmt.Errorf("%w: %s options of %d bytes, room for %d", ErrTooLarge, what, len(opts), room)
	}
	padLen := room - len(opts)
	if pad != nil && len(pad) != padLen {
		return b, fmt.Errorf("%w: %s padding of %d bytes, need %d", ErrInvalid, what, len(pad), padLen)
	}
	b = append(b, opts...)
	if pad == nil {
		return append(b, make([]byte, padLen)...), nil
	}
	return append(b, pad...), nil
}

// BuildRequestRecord is the 464-byte cleartext of a long ECIES build
// request (tunnel-creation-ecies.rst §"Request Record Unencrypted"):
//
//	bytes     0-3  receive tunnel ID, nonzero
//	bytes     4-7  next tunnel ID, nonzero
//	bytes    8-39  next router identity hash
//	bytes   40-71  AES-256 tunnel layer key
//	bytes  72-103  AES-256 tunnel IV key
//	bytes 104-135  AES-256 reply key (for the other records' reply layers)
//	bytes 136-151  AES-256 reply IV
//	byte      152  flags (BuildFlag*)
//	bytes 153-155  more flags, 0
//	bytes 156-159  request time, minutes since the epoch
//	bytes 160-163  request expiration, seconds since creation (600)
//	bytes 164-167  next message ID
//	bytes   168-x  options Mapping (2-byte size included; at most 296 bytes)
//	bytes   x-463  padding
//
// The hop's own reply record is not keyed by ReplyKey: it is AEAD under the
// chaining key after MixKey, n = 0, ad = h (§"Reply Record Encryption").
type BuildRequestRecord struct {
	ReceiveTunnel TunnelID
	NextTunnel    TunnelID
	NextIdent     data.Hash
	LayerKey      [32]byte
	IVKey         [32]byte
	ReplyKey      [32]byte
	ReplyIV       [16]byte
	Flags         uint8
	MoreFlags     [3]byte
	RequestTime   uint32 // minutes since the epoch
	Expiration    uint32 // seconds since creation
	SendMessageID uint32
	Options       []byte // Mapping bytes with their 2-byte size; nil = empty Mapping
	Padding       []byte // nil = zeros
}

const longOptionsOffset = 168

// ParseBuildRequestRecord reads a 464-byte long request cleartext from the
// start of b.
func ParseBuildRequestRecord(b []byte) (BuildRequestRecord, int, error) {
	var r BuildRequestRecord
	if len(b) < BuildRequestRecordLen {
		return r, 0, fmt.Errorf("%w: build request record needs %d bytes, have %d", ErrTruncated, BuildRequestRecordLen, len(b))
	}
	r.ReceiveTunnel = TunnelID(binary.BigEndian.Uint32(b[0:4]))
	r.NextTunnel = TunnelID(binary.BigEndian.Uint32(b[4:8]))
	copy(r.NextIdent[:], b[8:40])
	copy(r.LayerKey[:], b[40:72])
	copy(r.IVKey[:], b[72:104])
	copy(r.ReplyKey[:], b[104:136])
	copy(r.ReplyIV[:], b[136:152])
	r.Flags = b[152]
	copy(r.MoreFlags[:], b[153:156])
	r.RequestTime = binary.BigEndian.Uint32(b[156:160])
	r.Expiration = binary.BigEndian.Uint32(b[160:164])
	r.SendMessageID = binary.BigEndian.Uint32(b[164:168])
	opts, pad, err := parseOptions(b, longOptionsOffset, BuildRequestRecordLen, "build request record")
	if err != nil {
		return BuildRequestRecord{}, 0, err
	}
	r.Options, r.Padding = opts, pad
	return r, BuildRequestRecordLen, nil
}

// Len is BuildRequestRecordLen.
func (r BuildRequestRecord) Len() int { return BuildRequestRecordLen }

// Append appends the 464 cleartext bytes to b.
func (r BuildRequestRecord) Append(b []byte) ([]byte, error) {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(r.ReceiveTunnel))
	b = binary.BigEndian.AppendUint32(b, uint32(r.NextTunnel))
	b = append(b, r.NextIdent[:]...)
	b = append(b, r.LayerKey[:]...)
	b = append(b, r.IVKey[:]...)
	b = append(b, r.ReplyKey[:]...)
	b = append(b, r.ReplyIV[:]...)
	b = append(b, r.Flags)
	b = append(b, r.MoreFlags[:]...)
	b = binary.BigEndian.AppendUint32(b, r.RequestTime)
	b = binary.BigEndian.AppendUint32(b, r.Expiration)
	b = binary.BigEndian.AppendUint32(b, r.SendMessageID)
	out, err := appendOptions(b, r.Options, r.Padding, BuildRequestRecordLen-longOptionsOffset, "build request record")
	if err != nil {
		return b[:start], err
	}
	return out, nil
}

// IsGateway reports the inbound-gateway flag.
func (r BuildRequestRecord) IsGateway() bool { return r.Flags&BuildFlagGateway != 0 }

// IsEndpoint reports the outbound-endpoint flag.
func (r BuildRequestRecord) IsEndpoint() bool { return r.Flags&BuildFlagEndpoint != 0 }

// ShortBuildRequestRecord is the 154-byte cleartext of a short build
// request (tunnel-creation-ecies.rst §"Short Request Record Unencrypted",
// proposal 157):
//
//	bytes   0-3  receive tunnel ID, nonzero
//	bytes   4-7  next tunnel ID, nonzero
//	bytes  8-39  next router identity hash
//	byte     40  flags (BuildFlag*)
//	bytes 41-42  more flags, 0
//	byte     43  layer encryption type (0 = AES)
//	bytes 44-47  request time, minutes since the epoch
//	bytes 48-51  request expiration, seconds since creation (600)
//	bytes 52-55  next message ID
//	bytes  56-x  options Mapping (2-byte size included; at most 98 bytes)
//	bytes x-153  padding
//
// The record carries no keys. Both sides derive them from the Noise chaining
// key ck left by decrypting the record (§"KDF"), each step being
// ck, key = HKDF(ck, "", label, 64) split 32/32: "SMTunnelReplyKey" gives
// the reply key, then "SMTunnelLayerKey" the layer key. A non-OBEP hop's IV
// key is the ck that remains; the OBEP continues with "TunnelLayerIVKey" for
// its IV key and "RGarlicKeyAndTag" for the garlic reply key (second half)
// and tag (first 8 bytes of ck) that wrap its OutboundTunnelBuildReply.
type ShortBuildRequestRecord struct {
	ReceiveTunnel   TunnelID
	NextTunnel      TunnelID
	NextIdent       data.Hash
	Flags           uint8
	MoreFlags       [2]byte
	LayerEncryption uint8
	RequestTime     uint32 // minutes since the epoch
	Expiration      uint32 // seconds since creation
	SendMessageID   uint32
	Options         []byte // Mapping bytes with their 2-byte size; nil = empty Mapping
	Padding         []byte // nil = zeros
}

const shortOptionsOffset = 56

// ParseShortBuildRequestRecord reads a 154-byte short request cleartext
// from the start of b.
func ParseShortBuildRequestRecord(b []byte) (ShortBuildRequestRecord, int, error) {
	var r ShortBuildRequestRecord
	if len(b) < ShortBuildRequestRecordLen {
		return r, 0, fmt.Errorf("%w: short build request record needs %d bytes, have %d", ErrTruncated, ShortBuildRequestRecordLen, len(b))
	}
	r.ReceiveTunnel = TunnelID(binary.BigEndian.Uint32(b[0:4]))
	r.NextTunnel = TunnelID(binary.BigEndian.Uint32(b[4:8]))
	copy(r.NextIdent[:], b[8:40])
	r.Flags = b[40]
	copy(r.MoreFlags[:], b[41:43])
	r.LayerEncryption = b[43]
	r.RequestTime = binary.BigEndian.Uint32(b[44:48])
	r.Expiration = binary.BigEndian.Uint32(b[48:52])
	r.SendMessageID = binary.BigEndian.Uint32(b[52:56])
	opts, pad, err := parseOptions(b, shortOptionsOffset, ShortBuildRequestRecordLen, "short build request record")
	if err != nil {
		return ShortBuildRequestRecord{}, 0, err
	}
	r.Options, r.Padding = opts, pad
	return r, ShortBuildRequestRecordLen, nil
}

// Len is ShortBuildRequestRecordLen.
func (r ShortBuildRequestRecord) Len() int { return ShortBuildRequestRecordLen }

// Append appends the 154 cleartext bytes to b.
func (r ShortBuildRequestRecord) Append(b []byte) ([]byte, error) {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(r.ReceiveTunnel))
	b = binary.BigEndian.AppendUint32(b, uint32(r.NextTunnel))
	b = append(b, r.NextIdent[:]...)
	b = append(b, r.Flags)
	b = append(b, r.MoreFlags[:]...)
	b = append(b, r.LayerEncryption)
	b = binary.BigEndian.AppendUint32(b, r.RequestTime)
	b = binary.BigEndian.AppendUint32(b, r.Expiration)
	b = binary.BigEndian.AppendUint32(b, r.SendMessageID)
	out, err := appendOptions(b, r.Options, r.Padding, ShortBuildRequestRecordLen-shortOptionsOffset, "short build request record")
	if err != nil {
		return b[:start], err
	}
	return out, nil
}

// IsGateway reports the inbound-gateway flag.
func (r ShortBuildRequestRecord) IsGateway() bool { return r.Flags&BuildFlagGateway != 0 }

// IsEndpoint reports the outbound-endpoint flag.
func (r ShortBuildRequestRecord) IsEndpoint() bool { return r.Flags&BuildFlagEndpoint != 0 }

// BuildReplyRecord is the 512-byte cleartext of a long ECIES build reply
// (tunnel-creation-ecies.rst §"Reply Record Unencrypted"):
//
//	bytes   0-x  reply options Mapping (2-byte size included; at most 511 bytes)
//	bytes x-510  padding
//	byte    511  reply code (ReplyAccept or ReplyRejectBandwidth)
type BuildReplyRecord struct {
	Options []byte // Mapping bytes with their 2-byte size; nil = empty Mapping
	Padding []byte // nil = zeros
	Reply   uint8
}

// ParseBuildReplyRecord reads a 512-byte long reply cleartext from the
// start of b.
func ParseBuildReplyRecord(b []byte) (BuildReplyRecord, int, error) {
	opts, pad, reply, err := parseReply(b, BuildReplyRecordLen, "build reply record")
	if err != nil {
		return BuildReplyRecord{}, 0, err
	}
	return BuildReplyRecord{Options: opts, Padding: pad, Reply: reply}, BuildReplyRecordLen, nil
}

// Len is BuildReplyRecordLen.
func (r BuildReplyRecord) Len() int { return BuildReplyRecordLen }

// Append appends the 512 cleartext bytes to b.
func (r BuildReplyRecord) Append(b []byte) ([]byte, error) {
	return appendReply(b, r.Options, r.Padding, r.Reply, BuildReplyRecordLen, "build reply record")
}

// ShortBuildReplyRecord is the 202-byte cleartext of a short build reply
// (tunnel-creation-ecies.rst §"Short Reply Record Unencrypted"):
//
//	bytes   0-x  reply options Mapping (2-byte size included; at most 201 bytes)
//	bytes x-200  padding
//	byte    201  reply code (ReplyAccept or ReplyRejectBandwidth)
type ShortBuildReplyRecord struct {
	Options []byte // Mapping bytes with their 2-byte size; nil = empty Mapping
	Padding []byte // nil = zeros
	Reply   uint8
}

// ParseShortBuildReplyRecord reads a 202-byte short reply cleartext from
// the start of b.
func ParseShortBuildReplyRecord(b []byte) (ShortBuildReplyRecord, int, error) {
	opts, pad, reply, err := parseReply(b, ShortBuildReplyRecordLen, "short build reply record")
	if err != nil {
		return ShortBuildReplyRecord{}, 0, err
	}
	return ShortBuildReplyRecord{Options: opts, Padding: pad, Reply: reply}, ShortBuildReplyRecordLen, nil
}

// Len is ShortBuildReplyRecordLen.
func (r ShortBuildReplyRecord) Len() int { return ShortBuildReplyRecordLen }

// Append appends the 202 cleartext bytes to b.
func (r ShortBuildReplyRecord) Append(b []byte) ([]byte, error) {
	return appendReply(b, r.Options, r.Padding, r.Reply, ShortBuildReplyRecordLen, "short build reply record")
}

func parseReply(b []byte, size int, what string) (opts, pad []byte, reply uint8, err error) {
	if len(b) < size {
		return nil, nil, 0, fmt.Errorf("%w: %s needs %d bytes, have %d", ErrTruncated, what, size, len(b))
	}
	opts, pad, err = parseOptions(b, 0, size-1, what)
	if err != nil {
		return nil, nil, 0, err
	}
	return opts, pad, b[size-1], nil
}

func appendReply(b, opts, pad []byte, reply uint8, size int, what string) ([]byte, error) {
	out, err := appendOptions(b, opts, pad, size-1, what)
	if err != nil {
		return b, err
	}
	return append(out, reply), nil
}
