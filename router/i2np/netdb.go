package i2np

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"

	"i2pbridge/router/data"
)

// DatabaseStore store types: the type byte after the key (i2np.rst
// §"DatabaseStore", proposal 123). i2pd 2.45 treats 0 as a RouterInfo, 1 as
// a LeaseSet and any other nonzero byte as a LeaseSet2 variant.
const (
	StoreRouterInfo        = 0
	StoreLeaseSet          = 1 // old LeaseSet; never sent by this module
	StoreLeaseSet2         = 3
	StoreEncryptedLeaseSet = 5 // not implemented beyond carrying its bytes
	StoreMetaLeaseSet      = 7 // not implemented beyond carrying its bytes
)

// MaxRouterInfoLen is i2pd's RouterInfo buffer (MAX_RI_BUFFER_SIZE in
// RouterInfo.h). i2pd drops a DatabaseStore whose compressed RouterInfo is
// longer, or whose uncompressed RouterInfo is this long or longer.
const MaxRouterInfoLen = 3072

// DatabaseStore (type 1) stores a RouterInfo or LeaseSet (i2np.rst
// §"DatabaseStore"):
//
//	offset size field
//	0      32   key: the real hash of the RouterIdentity or Destination
//	32     1    type: 0 RouterInfo, 3 LeaseSet2, others (see Store*)
//	33     4    reply token
//	37     4    reply tunnel ID   } only if reply token != 0
//	41     32   reply gateway     }
//	then   2    size              } type 0: gzip-compressed RouterInfo
//	       size data              }
//	or     rest data                other types: raw LeaseSet bytes to the end
//
// Data holds the gzip bytes for a RouterInfo (without the 2-byte size) and
// the raw LeaseSet bytes otherwise; see CompressRouterInfo and
// DecompressRouterInfo. The body's last field is the data, so a LeaseSet
// store uses its whole payload.
type DatabaseStore struct {
	Key          data.Hash
	StoreType    uint8
	ReplyToken   uint32
	ReplyTunnel  TunnelID  // only with a nonzero ReplyToken; 0 = reply directly
	ReplyGateway data.Hash // only with a nonzero ReplyToken
	Data         []byte
}

const dsmFixedLen = 32 + 1 + 4 // key, type, token
const dsmReplyLen = 4 + 32     // tunnel, gateway

// ParseDatabaseStore reads a DatabaseStore body from b. A RouterInfo store
// ends after its sized data; any other store type takes the rest of b.
func ParseDatabaseStore(b []byte) (DatabaseStore, int, error) {
	var d DatabaseStore
	if len(b) < dsmFixedLen {
		return d, 0, fmt.Errorf("%w: DatabaseStore needs %d bytes, have %d", ErrTruncated, dsmFixedLen, len(b))
	}
	copy(d.Key[:], b[0:32])
	d.StoreType = b[32]
	d.ReplyToken = binary.BigEndian.Uint32(b[33:37])
	off := dsmFixedLen
	if d.ReplyToken != 0 {
		if len(b)-off < dsmReplyLen {
			return DatabaseStore{}, 0, fmt.Errorf("%w: DatabaseStore reply tunnel and gateway need %d bytes, have %d", ErrTruncated, dsmReplyLen, len(b)-off)
		}
		d.ReplyTunnel = TunnelID(binary.BigEndian.Uint32(b[off:]))
		copy(d.ReplyGateway[:], b[off+4:off+dsmReplyLen])
		off += dsmReplyLen
	}
	if d.StoreType != StoreRouterInfo {
		d.Data = b[off:]
		return d, len(b), nil
	}
	if len(b)-off < 2 {
		return DatabaseStore{}, 0, fmt.Errorf("%w: DatabaseStore RouterInfo size needs 2 bytes, have %d", ErrTruncated, len(b)-off)
	}
	size := int(binary.BigEndian.Uint16(b[off:]))
	off += 2
	if len(b)-off < size {
		return DatabaseStore{}, 0, fmt.Errorf("%w: DatabaseStore RouterInfo of %d bytes, have %d", ErrTruncated, size, len(b)-off)
	}
	d.Data = b[off : off+size]
	return d, off + size, nil
}

// Type is TypeDatabaseStore.
func (d DatabaseStore) Type() Type { return TypeDatabaseStore }

// IsRouterInfo reports whether d stores a RouterInfo (type byte 0).
func (d DatabaseStore) IsRouterInfo() bool { return d.StoreType == StoreRouterInfo }

// Len is the encoded length.
func (d DatabaseStore) Len() int {
	n := dsmFixedLen + len(d.Data)
	if d.ReplyToken != 0 {
		n += dsmReplyLen
	}
	if d.StoreType == StoreRouterInfo {
		n += 2
	}
	return n
}

// Append appends the encoded body to b. Reply fields without a reply token
// cannot be encoded (ErrInvalid); RouterInfo data is limited by its 2-byte
// size (ErrTooLarge).
func (d DatabaseStore) Append(b []byte) ([]byte, error) {
	if d.ReplyToken == 0 && (d.ReplyTunnel != 0 || !d.ReplyGateway.IsZero()) {
		return b, fmt.Errorf("%w: DatabaseStore reply tunnel/gateway set without a reply token", ErrInvalid)
	}
	if d.StoreType == StoreRouterInfo && len(d.Data) > 0xffff {
		return b, fmt.Errorf("%w: DatabaseStore RouterInfo of %d bytes, limit 65535", ErrTooLarge, len(d.Data))
	}
	b = append(b, d.Key[:]...)
	b = append(b, d.StoreType)
	b = binary.BigEndian.AppendUint32(b, d.ReplyToken)
	if d.ReplyToken != 0 {
		b = binary.BigEndian.AppendUint32(b, uint32(d.ReplyTunnel))
		b = append(b, d.ReplyGateway[:]...)
	}
	if d.StoreType == StoreRouterInfo {
		b = binary.BigEndian.AppendUint16(b, uint16(len(d.Data)))
	}
	return append(b, d.Data...), nil
}

// CompressRouterInfo gzips a RouterInfo for a DatabaseStore the way the
// spec asks (i2np.rst §"DatabaseStore" notes, matching Java): best
// compression, mtime 0, XFL 2, OS 0xFF, so the stream starts
// 1F 8B 08 00 00 00 00 00 02 FF.
func CompressRouterInfo(ri []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("i2np: gzip RouterInfo: %w", err)
	}
	zw.OS = 0xff
	if _, err := zw.Write(ri); err != nil {
		return nil, fmt.Errorf("i2np: gzip RouterInfo: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("i2np: gzip RouterInfo: %w", err)
	}
	return buf.Bytes(), nil
}

// DecompressRouterInfo gunzips the RouterInfo of a DatabaseStore with
// i2pd's limits: at most MaxRouterInfoLen compressed bytes and fewer than
// MaxRouterInfoLen uncompressed bytes (i2pd NetDb::HandleDatabaseStoreMsg).
// Only the first gzip member is read, as i2pd's inflater does.
func DecompressRouterInfo(gz []byte) ([]byte, error) {
	if len(gz) > MaxRouterInfoLen {
		return nil, fmt.Errorf("%w: compressed RouterInfo of %d bytes, limit %d", ErrTooLarge, len(gz), MaxRouterInfoLen)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("%w: gunzip RouterInfo: %w", ErrMalformed, err)
	}
	zr.Multistream(false)
	ri, err := io.ReadAll(io.LimitReader(zr, MaxRouterInfoLen))
	if err != nil {
		return nil, fmt.Errorf("%w: gunzip RouterInfo: %w", ErrMalformed, err)
	}
	if len(ri) >= MaxRouterInfoLen {
		return nil, fmt.Errorf("%w: RouterInfo of %d bytes or more, limit %d", ErrTooLarge, len(ri), MaxRouterInfoLen-1)
	}
	if len(ri) == 0 {
		return nil, fmt.Errorf("%w: empty RouterInfo", ErrMalformed)
	}
	return ri, nil
}

// DatabaseLookup flag bits (i2np.rst §"DatabaseLookup" flags; i2pd
// DATABASE_LOOKUP_* in I2NPProtocol.h).
const (
	LookupDelivery    = 0x01 // bit 0: reply through the tunnel in ReplyTunnel
	LookupEncryption  = 0x02 // bit 1: ElGamal/AES reply: key + 32-byte tags
	LookupTypeMask    = 0x0c // bits 3-2: lookup type
	LookupAny         = 0x00 // deprecated "normal" lookup
	LookupLeaseSet    = 0x04
	LookupRouterInfo  = 0x08
	LookupExploratory = 0x0c
	LookupECIES       = 0x10 // bit 4: ChaCha20/Poly1305 reply: key + 8-byte tags
)

// MaxExcludedPeers is the largest excluded-peer list (i2np.rst: "valid
// range: 0-512"; i2pd drops lookups with more).
const MaxExcludedPeers = 512

// SessionTagLen is the length of an ECIES session tag.
const SessionTagLen = 8

// SessionTag is an 8-byte ECIES session tag, an opaque byte string.
type SessionTag [SessionTagLen]byte

// DatabaseLookup (type 2) asks for a RouterInfo or LeaseSet (i2np.rst
// §"DatabaseLookup", §"Reply Encryption"; proposal 154):
//
//	offset size  field
//	0      32    key: real hash to look up
//	32     32    from: our router hash, or the reply tunnel's gateway
//	64     1     flags (Lookup*)
//	65     4     reply tunnel ID                    only if flags & 0x01
//	then   2     excluded count N (0-512)
//	       32×N  excluded peer hashes
//	then   32    reply key                          only if flags & 0x12
//	       1     tag count T
//	       T×L   tags: L = 8 if flags & 0x10, else 32
//
// i2pd reads the key and tags whenever bit 1 or bit 4 is set, 8-byte tags
// when bit 4 is set (ReplyTags) and 32-byte ElGamal tags otherwise
// (ElGamalReplyTags, parsed only so such lookups can be skipped cleanly).
// Flags keeps every bit, reserved ones included.
type DatabaseLookup struct {
	Key              data.Hash
	From             data.Hash
	Flags            uint8
	ReplyTunnel      TunnelID // only with LookupDelivery
	Exclude          []data.Hash
	ReplyKey         [32]byte     // only with LookupEncryption or LookupECIES
	ReplyTags        []SessionTag // only with LookupECIES
	ElGamalReplyTags [][32]byte   // only with LookupEncryption and not LookupECIES
}

const dlmFixedLen = 32 + 32 + 1

// ParseDatabaseLookup reads a DatabaseLookup body from the start of b.
func ParseDatabaseLookup(b []byte) (DatabaseLookup, int, error) {
	var d DatabaseLookup
	if len(b) < dlmFixedLen {
		return d, 0, fmt.Errorf("%w: DatabaseLookup needs %d bytes, have %d", ErrTruncated, dlmFixedLen, len(b))
	}
	copy(d.Key[:], b[0:32])
	copy(d.From[:], b[32:64])
	d.Flags = b[64]
	off := dlmFixedLen
	if d.Flags&LookupDelivery != 0 {
		if len(b)-off < 4 {
			return DatabaseLookup{}, 0, fmt.Errorf("%w: DatabaseLookup reply tunnel needs 4 bytes, have %d", ErrTruncated, len(b)-off)
		}
		d.ReplyTunnel = TunnelID(binary.BigEndian.Uint32(b[off:]))
		off += 4
	}
	if len(b)-off < 2 {
		return DatabaseLookup{}, 0, fmt.Errorf("%w: DatabaseLookup excluded count needs 2 bytes, have %d", ErrTruncated, len(b)-off)
	}
	count := int(binary.BigEndian.Uint16(b[off:]))
	off += 2
	if count > MaxExcludedPeers {
		return DatabaseLookup{}, 0, fmt.Errorf("%w: DatabaseLookup excludes %d peers, limit %d", ErrTooLarge, count, MaxExcludedPeers)
	}
	if len(b)-off < count*data.HashLen {
		return DatabaseLookup{}, 0, fmt.Errorf("%w: DatabaseLookup excludes %d peers (%d bytes), have %d", ErrTruncated, count, count*data.HashLen, len(b)-off)
	}
	if count > 0 {
		d.Exclude = make([]data.Hash, count)
		for i := range d.Exclude {
			copy(d.Exclude[i][:], b[off:])
			off += data.HashLen
		}
	}
	if !d.Encrypted() {
		return d, off, nil
	}
	if len(b)-off < 32+1 {
		return DatabaseLookup{}, 0, fmt.Errorf("%w: DatabaseLookup reply key and tag count need 33 bytes, have %d", ErrTruncated, len(b)-off)
	}
	copy(d.ReplyKey[:], b[off:off+32])
	tags := int(b[off+32])
	off += 33
	tagLen := d.tagLen()
	if len(b)-off < tags*tagLen {
		return DatabaseLookup{}, 0, fmt.Errorf("%w: DatabaseLookup %d reply tags of %d bytes, have %d", ErrTruncated, tags, tagLen, len(b)-off)
	}
	if tags > 0 {
		if d.Flags&LookupECIES != 0 {
			d.ReplyTags = make([]SessionTag, tags)
			for i := range d.ReplyTags {
				copy(d.ReplyTags[i][:], b[off:])
				off += tagLen
			}
		} else {
			d.ElGamalReplyTags = make([][32]byte, tags)
			for i := range d.ElGamalReplyTags {
				copy(d.ElGamalReplyTags[i][:], b[off:])
				off += tagLen
			}
		}
	}
	return d, off, nil
}

// Type is TypeDatabaseLookup.
func (d DatabaseLookup) Type() Type { return TypeDatabaseLookup }

// LookupType returns flag bits 3-2: LookupAny, LookupLeaseSet,
// LookupRouterInfo or LookupExploratory.
func (d DatabaseLookup) LookupType() uint8 { return d.Flags & LookupTypeMask }

// Encrypted reports whether the lookup carries a reply key and tags (flag
// bit 1 or bit 4, as i2pd reads it).
func (d DatabaseLookup) Encrypted() bool { return d.Flags&(LookupEncryption|LookupECIES) != 0 }

func (d DatabaseLookup) tagLen() int {
	if d.Flags&LookupECIES != 0 {
		return SessionTagLen
	}
	return 32
}

func (d DatabaseLookup) numTags() int { return len(d.ReplyTags) + len(d.ElGamalReplyTags) }

// Len is the encoded length.
func (d DatabaseLookup) Len() int {
	n := dlmFixedLen + 2 + len(d.Exclude)*data.HashLen
	if d.Flags&LookupDelivery != 0 {
		n += 4
	}
	if d.Encrypted() {
		n += 32 + 1 + d.numTags()*d.tagLen()
	}
	return n
}

// Append appends the encoded body to b. Fields that Flags says are absent
// must be zero or empty, and tags must be of the kind Flags selects
// (ErrInvalid).
func (d DatabaseLookup) Append(b []byte) ([]byte, error) {
	if d.Flags&LookupDelivery == 0 && d.ReplyTunnel != 0 {
		return b, fmt.Errorf("%w: DatabaseLookup reply tunnel set without the delivery flag", ErrInvalid)
	}
	if len(d.Exclude) > MaxExcludedPeers {
		return b, fmt.Errorf("%w: DatabaseLookup excludes %d peers, limit %d", ErrTooLarge, len(d.Exclude), MaxExcludedPeers)
	}
	switch {
	case !d.Encrypted():
		if d.ReplyKey != [32]byte{} || d.numTags() != 0 {
			return b, fmt.Errorf("%w: DatabaseLookup reply key/tags set without an encryption flag", ErrInvalid)
		}
	case d.Flags&LookupECIES != 0:
		if len(d.ElGamalReplyTags) != 0 {
			return b, fmt.Errorf("%w: DatabaseLookup with the ECIES flag carries 8-byte tags, not ElGamal tags", ErrInvalid)
		}
	default:
		if len(d.ReplyTags) != 0 {
			return b, fmt.Errorf("%w: DatabaseLookup without the ECIES flag carries 32-byte tags, not ECIES tags", ErrInvalid)
		}
	}
	if d.numTags() > 0xff {
		return b, fmt.Errorf("%w: DatabaseLookup with %d reply tags, limit 255", ErrTooLarge, d.numTags())
	}
	b = append(b, d.Key[:]...)
	b = append(b, d.From[:]...)
	b = append(b, d.Flags)
	if d.Flags&LookupDelivery != 0 {
		b = binary.BigEndian.AppendUint32(b, uint32(d.ReplyTunnel))
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.Exclude)))
	for _, h := range d.Exclude {
		b = append(b, h[:]...)
	}
	if d.Encrypted() {
		b = append(b, d.ReplyKey[:]...)
		b = append(b, byte(d.numTags()))
		for _, t := range d.ReplyTags {
			b = append(b, t[:]...)
		}
		for _, t := range d.ElGamalReplyTags {
			b = append(b, t[:]...)
		}
	}
	return b, nil
}

// DatabaseSearchReply (type 3) answers a failed lookup with peers closer to
// the key (i2np.rst §"DatabaseSearchReply"):
//
//	offset size  field
//	0      32    key: real hash that was searched
//	32     1     num: peer count (0-255)
//	33     32×N  peer hashes
//	then   32    from: hash of the replying router (unauthenticated)
type DatabaseSearchReply struct {
	Key   data.Hash
	Peers []data.Hash
	From  data.Hash
}

// ParseDatabaseSearchReply reads a DatabaseSearchReply body from the start
// of b.
func ParseDatabaseSearchReply(b []byte) (DatabaseSearchReply, int, error) {
	var d DatabaseSearchReply
	if len(b) < 33 {
		return d, 0, fmt.Errorf("%w: DatabaseSearchReply needs 33 bytes, have %d", ErrTruncated, len(b))
	}
	copy(d.Key[:], b[0:32])
	num := int(b[32])
	off := 33
	if len(b)-off < (num+1)*data.HashLen {
		return DatabaseSearchReply{}, 0, fmt.Errorf("%w: DatabaseSearchReply with %d peers needs %d more bytes, have %d", ErrTruncated, num, (num+1)*data.HashLen, len(b)-off)
	}
	if num > 0 {
		d.Peers = make([]data.Hash, num)
		for i := range d.Peers {
			copy(d.Peers[i][:], b[off:])
			off += data.HashLen
		}
	}
	copy(d.From[:], b[off:off+data.HashLen])
	return d, off + data.HashLen, nil
}

// Type is TypeDatabaseSearchReply.
func (d DatabaseSearchReply) Type() Type { return TypeDatabaseSearchReply }

// Len is the encoded length.
func (d DatabaseSearchReply) Len() int { return 32 + 1 + (len(d.Peers)+1)*data.HashLen }

// Append appends the encoded body to b; at most 255 peers fit.
func (d DatabaseSearchReply) Append(b []byte) ([]byte, error) {
	if len(d.Peers) > 0xff {
		return b, fmt.Errorf("%w: DatabaseSearchReply with %d peers, limit 255", ErrTooLarge, len(d.Peers))
	}
	b = append(b, d.Key[:]...)
	b = append(b, byte(len(d.Peers)))
	for _, h := range d.Peers {
		b = append(b, h[:]...)
	}
	return append(b, d.From[:]...), nil
}
