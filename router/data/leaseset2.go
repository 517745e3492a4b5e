package data

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
)

// StoreTypeLeaseSet2 is the DatabaseStore type of a LeaseSet2; its
// signature covers this byte followed by the LeaseSet2 (common-structures.rst
// "LeaseSet2": "The signature is over the data above, PREPENDED with the
// single byte containing the DatabaseStore type (3)").
const StoreTypeLeaseSet2 = 3

// LeaseSet2 limits: at most 16 leases (common-structures.rst "LeaseSet2"
// num; i2pd MAX_NUM_LEASES), at most 3072 bytes (i2pd LeaseSet.h
// MAX_LS_BUFFER_SIZE, checked in NetDb::HandleDatabaseStoreMsg).
const (
	MaxLeases        = 16
	MaxLeaseSet2Len  = 3072
	Lease2Len        = HashLen + 4 + 4
	ls2HeaderTimeLen = 4 + 2 + 2 // published, expires, flags
)

// LeaseSet2 header flags (common-structures.rst "LeaseSet2Header").
const (
	// LS2FlagOfflineKeys: an OfflineSignature follows the flags and the
	// LeaseSet2 is signed by its transient key.
	LS2FlagOfflineKeys = 1 << 0
	// LS2FlagUnpublished: not to be flooded, published or sent in reply to
	// a lookup.
	LS2FlagUnpublished = 1 << 1
	// LS2FlagBlinded: to be blinded and encrypted when published (0.9.42).
	LS2FlagBlinded = 1 << 2
)

// Lease2 authorises one inbound tunnel (common-structures.rst "Lease2"):
//
//	tunnel_gw(32, Hash of the gateway's RouterIdentity) tunnel_id(4)
//	end_date(4, seconds since the epoch)
type Lease2 struct {
	Gateway  Hash
	TunnelID uint32
	End      uint32 // seconds since 1970-01-01 UTC
}

// ParseLease2 reads a Lease2 from the start of b.
func ParseLease2(b []byte) (Lease2, int, error) {
	if len(b) < Lease2Len {
		return Lease2{}, 0, fmt.Errorf("%w: lease needs %d bytes, have %d", ErrTruncated, Lease2Len, len(b))
	}
	var l Lease2
	copy(l.Gateway[:], b)
	l.TunnelID = binary.BigEndian.Uint32(b[HashLen:])
	l.End = binary.BigEndian.Uint32(b[HashLen+4:])
	return l, Lease2Len, nil
}

// Append appends the 40-byte lease to b.
func (l Lease2) Append(b []byte) ([]byte, error) {
	b = append(b, l.Gateway[:]...)
	b = binary.BigEndian.AppendUint32(b, l.TunnelID)
	return binary.BigEndian.AppendUint32(b, l.End), nil
}

// Len is always Lease2Len.
func (l Lease2) Len() int { return Lease2Len }

// EndTime returns End as a time.
func (l Lease2) EndTime() time.Time { return time.Unix(int64(l.End), 0).UTC() }

// EncryptionKey is one key section of a LeaseSet2: type(2) length(2) key.
// Keys are X25519 (type 4, 32 bytes) in practice; i2pd publishes "0,4"
// (ElGamal and X25519) by default, in its configured order.
type EncryptionKey struct {
	Type uint16
	Key  []byte
}

// OfflineSignature lets a transient key sign for a destination
// (common-structures.rst "OfflineSignature"):
//
//	expires(4, seconds) sigtype(2) transient_public_key(by sigtype)
//	signature(by the destination's signing type) over the fields before it
//
// This package parses and verifies it but never produces one.
type OfflineSignature struct {
	Expires          uint32 // seconds since the epoch
	TransientSigType uint16
	TransientKey     []byte
	Signature        []byte
}

// offlineFixedLen is expires(4) + sigtype(2).
const offlineFixedLen = 6

// ParseOfflineSignature reads an OfflineSignature made by signer from the
// start of b (the signature's length depends on the signer's type).
func ParseOfflineSignature(b []byte, signer Destination) (OfflineSignature, int, error) {
	if len(b) < offlineFixedLen {
		return OfflineSignature{}, 0, fmt.Errorf("offline signature: %w: expires and type need %d bytes, have %d", ErrTruncated, offlineFixedLen, len(b))
	}
	o := OfflineSignature{
		Expires:          binary.BigEndian.Uint32(b),
		TransientSigType: binary.BigEndian.Uint16(b[4:]),
	}
	info, ok := sigTypes[o.TransientSigType]
	if !ok {
		return OfflineSignature{}, 0, fmt.Errorf("offline signature: transient key: %w: %d", ErrUnknownSigType, o.TransientSigType)
	}
	sigLen := signer.SignatureLen()
	if sigLen == 0 {
		return OfflineSignature{}, 0, fmt.Errorf("offline signature: signer: %w: %d", ErrUnknownSigType, signer.SigningType())
	}
	n := offlineFixedLen + info.PublicKeyLen + sigLen
	if len(b) < n {
		return OfflineSignature{}, 0, fmt.Errorf("offline signature: %w: transient %s key and signature need %d bytes, have %d", ErrTruncated, info.Name, n-offlineFixedLen, len(b)-offlineFixedLen)
	}
	o.TransientKey = slices.Clone(b[offlineFixedLen : offlineFixedLen+info.PublicKeyLen])
	o.Signature = slices.Clone(b[offlineFixedLen+info.PublicKeyLen : n])
	return o, n, nil
}

// Len returns the encoded length.
func (o OfflineSignature) Len() int {
	return offlineFixedLen + len(o.TransientKey) + len(o.Signature)
}

// Append appends the encoded OfflineSignature to b. The transient key must
// have its type's length.
func (o OfflineSignature) Append(b []byte) ([]byte, error) {
	info, ok := sigTypes[o.TransientSigType]
	if !ok {
		return b, fmt.Errorf("offline signature: %w: %d", ErrUnknownSigType, o.TransientSigType)
	}
	if len(o.TransientKey) != info.PublicKeyLen {
		return b, fmt.Errorf("offline signature: %w: %s key of %d bytes, want %d", ErrMalformed, info.Name, len(o.TransientKey), info.PublicKeyLen)
	}
	b = binary.BigEndian.AppendUint32(b, o.Expires)
	b = binary.BigEndian.AppendUint16(b, o.TransientSigType)
	b = append(b, o.TransientKey...)
	return append(b, o.Signature...), nil
}

// ExpiresTime returns Expires as a time. Peers refuse an expired offline
// signature (i2pd ProcessOfflineSignature); that check needs a clock and is
// left to the caller.
func (o OfflineSignature) ExpiresTime() time.Time { return time.Unix(int64(o.Expires), 0).UTC() }

// Verify checks the signer's signature over expires, sigtype and the
// transient key.
func (o OfflineSignature) Verify(signer Destination) error {
	msg := make([]byte, 0, offlineFixedLen+len(o.TransientKey))
	msg = binary.BigEndian.AppendUint32(msg, o.Expires)
	msg = binary.BigEndian.AppendUint16(msg, o.TransientSigType)
	msg = append(msg, o.TransientKey...)
	if err := signer.Verify(msg, o.Signature); err != nil {
		return fmt.Errorf("offline signature: %w", err)
	}
	return nil
}

// clone returns a deep copy.
func (o OfflineSignature) clone() OfflineSignature {
	o.TransientKey = slices.Clone(o.TransientKey)
	o.Signature = slices.Clone(o.Signature)
	return o
}

// LeaseSet2 is a destination's published set of inbound tunnels and
// encryption keys, DatabaseStore type 3 (common-structures.rst
// "LeaseSet2Header", "LeaseSet2"; proposals/123-new-netdb-entries.rst):
//
//	destination      Destination (387+ bytes)
//	published        4 bytes, seconds since the epoch
//	expires          2 bytes, seconds after published
//	flags            2 bytes: bit 0 offline keys, bit 1 unpublished,
//	                 bit 2 blinded
//	offline_sig      OfflineSignature, only when flag bit 0 is set
//	options          Mapping
//	numk             1 byte (≥ 1), then numk × {type(2) len(2) key(len)}
//	num              1 byte (≤ 16), then num × Lease2 (40 bytes)
//	signature        by the destination's key, or by the transient key when
//	                 offline; over 0x03 followed by every byte before it
//
// The netDb key is the destination's hash. A LeaseSet2 keeps the exact
// bytes it was parsed from: Append writes them back and Verify checks
// them. Parsing does not verify; call Verify. Freshness (published not in
// the future, expiry, a strictly newer published time than the stored
// copy) is netDb policy and needs a clock, so it is left to the caller.
// The zero value holds nothing.
type LeaseSet2 struct {
	raw       string
	dest      Destination
	published uint32
	expires   uint16
	flags     uint16
	offline   *OfflineSignature
	options   Mapping
	keys      []EncryptionKey
	leases    []Lease2
	sigOff    int
}

// ParseLeaseSet2 reads a LeaseSet2 (without the store type byte) from the
// start of b. Refused: no encryption key or more than 16 leases, a key whose
// length does not match its known type (ErrMalformed), duplicate option
// keys, an unknown signing type, more than MaxLeaseSet2Len bytes
// (ErrTooLong). Keys of unknown types are kept by their length.
func ParseLeaseSet2(b []byte) (LeaseSet2, int, error) {
	dest, off, err := ParseDestination(b)
	if err != nil {
		return LeaseSet2{}, 0, fmt.Errorf("leaseset2: %w", err)
	}
	ls := LeaseSet2{dest: dest}
	if len(b)-off < ls2HeaderTimeLen {
		return LeaseSet2{}, 0, fmt.Errorf("leaseset2: %w: published, expires and flags need %d bytes, have %d", ErrTruncated, ls2HeaderTimeLen, len(b)-off)
	}
	ls.published = binary.BigEndian.Uint32(b[off:])
	ls.expires = binary.BigEndian.Uint16(b[off+4:])
	ls.flags = binary.BigEndian.Uint16(b[off+6:])
	off += ls2HeaderTimeLen
	sigLen := dest.SignatureLen()
	if ls.flags&LS2FlagOfflineKeys != 0 {
		o, n, err := ParseOfflineSignature(b[off:], dest)
		if err != nil {
			return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: %w", dest, err)
		}
		ls.offline = &o
		sigLen = sigTypes[o.TransientSigType].SignatureLen
		off += n
	}
	var n int
	if ls.options, n, err = ParseMapping(b[off:]); err != nil {
		return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: options: %w", dest, err)
	}
	off += n
	if len(b) <= off {
		return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: %w: key count missing", dest, ErrTruncated)
	}
	numk := int(b[off])
	off++
	if numk == 0 {
		return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: %w: no encryption key", dest, ErrMalformed)
	}
	for i := range numk {
		if len(b)-off < 4 {
			return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: key %d: %w: type and length need 4 bytes, have %d", dest, i, ErrTruncated, len(b)-off)
		}
		typ := binary.BigEndian.Uint16(b[off:])
		klen := int(binary.BigEndian.Uint16(b[off+2:]))
		off += 4
		if want, known := cryptoPublicKeyLens[typ]; known && klen != want {
			return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: key %d: %w: crypto type %d with a %d-byte key, want %d", dest, i, ErrMalformed, typ, klen, want)
		}
		if len(b)-off < klen {
			return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: key %d: %w: %d-byte key, have %d", dest, i, ErrTruncated, klen, len(b)-off)
		}
		ls.keys = append(ls.keys, EncryptionKey{Type: typ, Key: slices.Clone(b[off : off+klen])})
		off += klen
	}
	if len(b) <= off {
		return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: %w: lease count missing", dest, ErrTruncated)
	}
	num := int(b[off])
	off++
	if num > MaxLeases {
		return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: %w: %d leases, limit %d", dest, ErrMalformed, num, MaxLeases)
	}
	for i := range num {
		l, n, err := ParseLease2(b[off:])
		if err != nil {
			return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: lease %d of %d: %w", dest, i, num, err)
		}
		ls.leases = append(ls.leases, l)
		off += n
	}
	if sigLen == 0 {
		return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: %w: %d", dest, ErrUnknownSigType, dest.SigningType())
	}
	if len(b)-off < sigLen {
		return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: %w: signature needs %d bytes, have %d", dest, ErrTruncated, sigLen, len(b)-off)
	}
	ls.sigOff = off
	off += sigLen
	if off > MaxLeaseSet2Len {
		return LeaseSet2{}, 0, fmt.Errorf("leaseset2 %s: %w: %d bytes, limit %d", dest, ErrTooLong, off, MaxLeaseSet2Len)
	}
	ls.raw = string(b[:off])
	return ls, off, nil
}

// IsZero reports whether ls holds nothing.
func (ls LeaseSet2) IsZero() bool { return ls.raw == "" }

// Len returns the encoded length (without the store type byte).
func (ls LeaseSet2) Len() int { return len(ls.raw) }

// Append appends the exact parsed (or built) bytes to b.
func (ls LeaseSet2) Append(b []byte) ([]byte, error) {
	if ls.IsZero() {
		return b, fmt.Errorf("leaseset2: %w: empty leaseset", ErrTruncated)
	}
	return append(b, ls.raw...), nil
}

// Bytes returns a copy of the encoded bytes (nil for the zero value).
func (ls LeaseSet2) Bytes() []byte {
	if ls.IsZero() {
		return nil
	}
	return []byte(ls.raw)
}

// Destination returns the destination the LeaseSet2 belongs to.
func (ls LeaseSet2) Destination() Destination { return ls.dest }

// Hash returns the netDb key: the destination's hash.
func (ls LeaseSet2) Hash() Hash { return ls.dest.Hash() }

// Published returns the publication time; a newer LeaseSet2 for the same
// destination must have a later one.
func (ls LeaseSet2) Published() time.Time { return time.Unix(int64(ls.published), 0).UTC() }

// Expires returns published + the expires offset.
func (ls LeaseSet2) Expires() time.Time {
	return time.Unix(int64(ls.published)+int64(ls.expires), 0).UTC()
}

// Flags returns the raw header flags.
func (ls LeaseSet2) Flags() uint16 { return ls.flags }

// IsUnpublished reports flag bit 1: the LeaseSet2 must not be flooded or
// given out in lookup replies.
func (ls LeaseSet2) IsUnpublished() bool { return ls.flags&LS2FlagUnpublished != 0 }

// OfflineSignature returns a copy of the offline signature, if flag bit 0
// is set.
func (ls LeaseSet2) OfflineSignature() (OfflineSignature, bool) {
	if ls.offline == nil {
		return OfflineSignature{}, false
	}
	return ls.offline.clone(), true
}

// Options returns the options Mapping.
func (ls LeaseSet2) Options() Mapping { return ls.options }

// EncryptionKeys returns copies of the key sections in their published
// order.
func (ls LeaseSet2) EncryptionKeys() []EncryptionKey {
	out := make([]EncryptionKey, len(ls.keys))
	for i, k := range ls.keys {
		out[i] = EncryptionKey{Type: k.Type, Key: slices.Clone(k.Key)}
	}
	return out
}

// EncryptionKey returns a copy of the first key of crypto type t.
func (ls LeaseSet2) EncryptionKey(t uint16) ([]byte, bool) {
	for _, k := range ls.keys {
		if k.Type == t {
			return slices.Clone(k.Key), true
		}
	}
	return nil, false
}

// Leases returns a copy of the leases.
func (ls LeaseSet2) Leases() []Lease2 { return slices.Clone(ls.leases) }

// Signature returns a copy of the signature.
func (ls LeaseSet2) Signature() []byte {
	if ls.IsZero() {
		return nil
	}
	return []byte(ls.raw[ls.sigOff:])
}

// signedMessage is the store type byte followed by everything before the
// signature.
func (ls LeaseSet2) signedMessage() []byte {
	msg := make([]byte, 0, 1+ls.sigOff)
	msg = append(msg, StoreTypeLeaseSet2)
	return append(msg, ls.raw[:ls.sigOff]...)
}

// Verify checks the signature over 0x03 ‖ the LeaseSet2 bytes before it:
// with the destination's key, or, when offline keys are used, the offline
// signature with the destination's key and then the LeaseSet2 with the
// transient key. Only Ed25519 keys can be verified. Expiry of the offline
// signature is not checked here (see OfflineSignature.ExpiresTime).
func (ls LeaseSet2) Verify() error {
	if ls.IsZero() {
		return fmt.Errorf("leaseset2: %w: empty leaseset", ErrTruncated)
	}
	msg, sig := ls.signedMessage(), []byte(ls.raw[ls.sigOff:])
	if ls.offline != nil {
		if err := ls.offline.Verify(ls.dest); err != nil {
			return fmt.Errorf("leaseset2 %s: %w", ls.dest, err)
		}
		if err := verifyWithKey(ls.offline.TransientSigType, ls.offline.TransientKey, msg, sig); err != nil {
			return fmt.Errorf("leaseset2 %s: transient key: %w", ls.dest, err)
		}
		return nil
	}
	if err := ls.dest.Verify(msg, sig); err != nil {
		return fmt.Errorf("leaseset2 %s: %w", ls.dest, err)
	}
	return nil
}

// verifyWithKey verifies sig over msg with a bare public key of sigType.
func verifyWithKey(sigType uint16, pub, msg, sig []byte) error {
	info, ok := sigTypes[sigType]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownSigType, sigType)
	}
	if sigType != SigTypeEd25519 {
		return fmt.Errorf("%w: %s", ErrUnsupportedSigType, info.Name)
	}
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize || !ed25519.Verify(ed25519.PublicKey(pub), msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// String names the destination.
func (ls LeaseSet2) String() string {
	if ls.IsZero() {
		return "<no leaseset2>"
	}
	return "LeaseSet2(" + ls.dest.String() + ")"
}

// LeaseSet2Params is the content of a LeaseSet2 to build.
type LeaseSet2Params struct {
	// Published is stored in whole seconds; it must be after 1970 and
	// before 2106 (4-byte field) and later than any LeaseSet2 published
	// before for the same destination.
	Published time.Time
	// Expires is stored as whole seconds after Published (0..65535; keep
	// it within about 660 s, common-structures.rst "LeaseSet2Header").
	Expires time.Time
	// Unpublished sets flag bit 1 (a LeaseSet2 only for direct sending).
	Unpublished bool
	// Options must be sorted (NewMapping sorts); usually empty.
	Options Mapping
	// Keys are the encryption keys, 1..255, each of a known crypto type
	// with its exact length. Publish X25519 (type 4).
	Keys []EncryptionKey
	// Leases are the inbound tunnels, 0..16 (i2pd publishes 0 leases to
	// withdraw a destination).
	Leases []Lease2
}

// BuildLeaseSet2 writes a LeaseSet2 for the destination of keys, signs
// 0x03 ‖ its bytes with the destination's Ed25519 key (never with offline
// keys) and returns it parsed.
func BuildLeaseSet2(keys PrivateKeys, p LeaseSet2Params) (LeaseSet2, error) {
	if keys.IsZero() {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: %w: no private keys", ErrTruncated)
	}
	pub, exp := p.Published.Unix(), p.Expires.Unix()
	if p.Published.IsZero() || pub <= 0 || pub > math.MaxUint32 {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: %w: published %v does not fit 4-byte seconds", ErrBadTime, p.Published)
	}
	if p.Expires.IsZero() || exp < pub || exp-pub > math.MaxUint16 {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: %w: expires %v is not within 65535 s after published %v", ErrBadTime, p.Expires, p.Published)
	}
	if len(p.Keys) == 0 || len(p.Keys) > 0xff {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: %w: %d encryption keys, want 1..255", ErrMalformed, len(p.Keys))
	}
	if len(p.Leases) > MaxLeases {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: %w: %d leases, limit %d", ErrMalformed, len(p.Leases), MaxLeases)
	}
	if !p.Options.IsSorted() {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: options: %w", ErrUnsortedMapping)
	}
	var flags uint16
	if p.Unpublished {
		flags |= LS2FlagUnpublished
	}
	// Signed message: the store type byte, then the LeaseSet2.
	msg := make([]byte, 1, 1024)
	msg[0] = StoreTypeLeaseSet2
	msg, err := keys.Destination().Append(msg)
	if err != nil {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: %w", err)
	}
	msg = binary.BigEndian.AppendUint32(msg, uint32(pub))
	msg = binary.BigEndian.AppendUint16(msg, uint16(exp-pub))
	msg = binary.BigEndian.AppendUint16(msg, flags)
	if msg, err = p.Options.Append(msg); err != nil {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: options: %w", err)
	}
	msg = append(msg, byte(len(p.Keys)))
	for i, k := range p.Keys {
		want, known := cryptoPublicKeyLens[k.Type]
		if !known {
			return LeaseSet2{}, fmt.Errorf("leaseset2: build: key %d: %w: %d", i, ErrUnsupportedCryptoType, k.Type)
		}
		if len(k.Key) != want {
			return LeaseSet2{}, fmt.Errorf("leaseset2: build: key %d: %w: crypto type %d with a %d-byte key, want %d", i, ErrMalformed, k.Type, len(k.Key), want)
		}
		msg = binary.BigEndian.AppendUint16(msg, k.Type)
		msg = binary.BigEndian.AppendUint16(msg, uint16(len(k.Key)))
		msg = append(msg, k.Key...)
	}
	msg = append(msg, byte(len(p.Leases)))
	for _, l := range p.Leases {
		msg, _ = l.Append(msg)
	}
	if n := len(msg) - 1 + keys.Destination().SignatureLen(); n > MaxLeaseSet2Len {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: %w: %d bytes, limit %d", ErrTooLong, n, MaxLeaseSet2Len)
	}
	sig, err := keys.Sign(msg)
	if err != nil {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: %w", err)
	}
	b := append(msg[1:], sig...)
	ls, n, err := ParseLeaseSet2(b)
	if err != nil {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: reparse: %w", err)
	}
	if n != len(b) {
		return LeaseSet2{}, fmt.Errorf("leaseset2: build: reparse consumed %d of %d bytes", n, len(b))
	}
	return ls, nil
}
