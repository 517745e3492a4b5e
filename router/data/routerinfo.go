package data

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// MaxRouterInfoLen is the largest RouterInfo i2pd 2.45 accepts
// (RouterInfo.h MAX_RI_BUFFER_SIZE; the same 3072 bytes for LeaseSets).
// ParseRouterInfo accepts up to it, as i2pd does for files and NTCP2
// blocks. BuildRouterInfo stays strictly below it, because i2pd's own
// builder (LocalRouterInfo::CreateBuffer) and its DatabaseStore inflater
// (NetDb::HandleDatabaseStoreMsg) require fewer than 3072 bytes.
const MaxRouterInfoLen = 3072

// RouterInfo option keys (network-database.html "RouterInfo"), and the
// values i2pd 2.45 checks (RouterInfo::ReadFromStream): netId must equal
// its own, router.version must hold a digit.
const (
	OptionCaps          = "caps"
	OptionNetID         = "netId"
	OptionRouterVersion = "router.version"
)

// Router capability letters (network-database.html "RouterInfo";
// i2pd RouterInfo.h CAPS_FLAG_*).
const (
	CapFloodfill   = 'f'
	CapHidden      = 'H'
	CapReachable   = 'R'
	CapUnreachable = 'U'
)

// RouterInfo is everything a router publishes (common-structures.rst
// "RouterInfo"):
//
//	RouterIdentity (387+ bytes)
//	published      Date (8)
//	size           1 byte, then size × RouterAddress
//	peer_size      1 byte (always 0), then peer_size × Hash (unused)
//	options        Mapping
//	signature      over every byte before it, by the identity's signing
//	               key; length by its signing type (64 for Ed25519)
//
// The netDb key and the router hash is SHA-256 of the RouterIdentity bytes
// only (common-structures.rst "RouterInfo": "keyed under the SHA256 of the
// contained RouterIdentity"), not of the whole RouterInfo. A RouterInfo
// keeps the exact bytes it was parsed from: Append writes them back
// unchanged and Verify checks the signature over them, so nothing is ever
// re-serialised. The zero value holds nothing. Parsing does not verify the
// signature; call Verify before trusting the content.
type RouterInfo struct {
	raw       string
	ident     RouterIdentity
	published Date
	addresses []RouterAddress
	peers     []Hash
	options   Mapping
	sigOff    int
}

// ParseRouterInfo reads a RouterInfo from the start of b and returns the
// number of bytes consumed. Options and address options must not repeat a
// key (ErrDuplicateKey); they need not be sorted. A RouterInfo longer than
// MaxRouterInfoLen is refused with ErrTooLong.
func ParseRouterInfo(b []byte) (RouterInfo, int, error) {
	ident, off, err := ParseRouterIdentity(b)
	if err != nil {
		return RouterInfo{}, 0, fmt.Errorf("router info: %w", err)
	}
	ri := RouterInfo{ident: ident}
	var n int
	if ri.published, n, err = ParseDate(b[off:]); err != nil {
		return RouterInfo{}, 0, fmt.Errorf("router info: published: %w", err)
	}
	off += n
	if len(b) <= off {
		return RouterInfo{}, 0, fmt.Errorf("router info: %w: address count missing", ErrTruncated)
	}
	count := int(b[off])
	off++
	ri.addresses = make([]RouterAddress, 0, count)
	for i := range count {
		a, n, err := ParseRouterAddress(b[off:])
		if err != nil {
			return RouterInfo{}, 0, fmt.Errorf("router info: address %d of %d: %w", i, count, err)
		}
		ri.addresses = append(ri.addresses, a)
		off += n
	}
	if len(b) <= off {
		return RouterInfo{}, 0, fmt.Errorf("router info: %w: peer count missing", ErrTruncated)
	}
	npeers := int(b[off])
	off++
	for i := range npeers {
		h, n, err := ParseHash(b[off:])
		if err != nil {
			return RouterInfo{}, 0, fmt.Errorf("router info: peer %d of %d: %w", i, npeers, err)
		}
		ri.peers = append(ri.peers, h)
		off += n
	}
	if ri.options, n, err = ParseMapping(b[off:]); err != nil {
		return RouterInfo{}, 0, fmt.Errorf("router info: options: %w", err)
	}
	off += n
	sigLen := ident.SignatureLen()
	if sigLen == 0 {
		return RouterInfo{}, 0, fmt.Errorf("router info: %w: %d", ErrUnknownSigType, ident.SigningType())
	}
	if len(b)-off < sigLen {
		return RouterInfo{}, 0, fmt.Errorf("router info: %w: signature needs %d bytes, have %d", ErrTruncated, sigLen, len(b)-off)
	}
	ri.sigOff = off
	off += sigLen
	if off > MaxRouterInfoLen {
		return RouterInfo{}, 0, fmt.Errorf("router info: %w: %d bytes, limit %d", ErrTooLong, off, MaxRouterInfoLen)
	}
	ri.raw = string(b[:off])
	return ri, off, nil
}

// IsZero reports whether ri holds nothing.
func (ri RouterInfo) IsZero() bool { return ri.raw == "" }

// Len returns the encoded length.
func (ri RouterInfo) Len() int { return len(ri.raw) }

// Append appends the exact parsed (or built) bytes to b.
func (ri RouterInfo) Append(b []byte) ([]byte, error) {
	if ri.IsZero() {
		return b, fmt.Errorf("router info: %w: empty router info", ErrTruncated)
	}
	return append(b, ri.raw...), nil
}

// Bytes returns a copy of the encoded bytes (nil for the zero value).
func (ri RouterInfo) Bytes() []byte {
	if ri.IsZero() {
		return nil
	}
	return []byte(ri.raw)
}

// Identity returns the router's identity.
func (ri RouterInfo) Identity() RouterIdentity { return ri.ident }

// Hash returns the router hash: SHA-256 of the RouterIdentity bytes.
func (ri RouterInfo) Hash() Hash { return ri.ident.Hash() }

// Published returns the publication Date.
func (ri RouterInfo) Published() Date { return ri.published }

// Addresses returns a copy of the addresses in their published order.
func (ri RouterInfo) Addresses() []RouterAddress {
	out := make([]RouterAddress, len(ri.addresses))
	copy(out, ri.addresses) // Mapping is immutable, so a shallow copy is enough
	return out
}

// PeerCount returns the number of peer hashes (unused by the network;
// always 0 in practice).
func (ri RouterInfo) PeerCount() int { return len(ri.peers) }

// Options returns the options Mapping.
func (ri RouterInfo) Options() Mapping { return ri.options }

// Option returns one option value.
func (ri RouterInfo) Option(key string) (string, bool) { return ri.options.Get(key) }

// Caps returns the caps option ("" when absent), e.g. "XfR".
func (ri RouterInfo) Caps() string {
	c, _ := ri.options.Get(OptionCaps)
	return c
}

// HasCap reports whether the caps option contains the letter c.
func (ri RouterInfo) HasCap(c byte) bool { return strings.IndexByte(ri.Caps(), c) >= 0 }

// IsFloodfill reports whether the router advertises the floodfill cap 'f'.
func (ri RouterInfo) IsFloodfill() bool { return ri.HasCap(CapFloodfill) }

// NetID returns the netId option as a number (2 is the public network).
// A missing or non-decimal value is an ErrOption: i2pd ignores a
// RouterInfo without it.
func (ri RouterInfo) NetID() (int, error) {
	v, ok := ri.options.Get(OptionNetID)
	if !ok {
		return 0, fmt.Errorf("router info %s: %w: %s missing", ri.ident, ErrOption, OptionNetID)
	}
	id, err := strconv.Atoi(v)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("router info %s: %w: %s=%q", ri.ident, ErrOption, OptionNetID, v)
	}
	return id, nil
}

// RouterVersion returns the router.version option ("" when absent), e.g.
// "0.9.57".
func (ri RouterInfo) RouterVersion() string {
	v, _ := ri.options.Get(OptionRouterVersion)
	return v
}

// Signature returns a copy of the signature.
func (ri RouterInfo) Signature() []byte {
	if ri.IsZero() {
		return nil
	}
	return []byte(ri.raw[ri.sigOff:])
}

// Verify checks the signature over the bytes before it with the
// identity's key. Only Ed25519 identities can be verified (others give
// ErrUnsupportedSigType); i2pd refuses RSA router identities as well.
func (ri RouterInfo) Verify() error {
	if ri.IsZero() {
		return fmt.Errorf("router info: %w: empty router info", ErrTruncated)
	}
	if err := ri.ident.Verify([]byte(ri.raw[:ri.sigOff]), []byte(ri.raw[ri.sigOff:])); err != nil {
		return fmt.Errorf("router info %s: %w", ri.ident, err)
	}
	return nil
}

// String returns the router's short hash.
func (ri RouterInfo) String() string {
	if ri.IsZero() {
		return "<no router info>"
	}
	return "RouterInfo(" + ri.ident.String() + ")"
}

// RouterInfoParams is the content of a RouterInfo to build.
type RouterInfoParams struct {
	// Published is the publication time, stored to the millisecond. Peers
	// refuse RouterInfos from more than 2 minutes in the future.
	Published time.Time
	// Addresses are written in this order; at most 255. Each needs a zero
	// Expiration and sorted options.
	Addresses []RouterAddress
	// Options must be sorted (NewMapping sorts); i2pd needs at least caps,
	// netId and router.version.
	Options Mapping
}

// BuildRouterInfo writes and signs a RouterInfo for the router that keys
// belong to, with a zero peer count, and returns it parsed. Unsorted
// mappings (ErrUnsortedMapping), nonzero address expirations and a result
// of MaxRouterInfoLen bytes or more (ErrTooLong) are refused.
func BuildRouterInfo(keys RouterKeys, p RouterInfoParams) (RouterInfo, error) {
	if keys.IsZero() {
		return RouterInfo{}, fmt.Errorf("router info: build: %w: no router keys", ErrTruncated)
	}
	published := NewDate(p.Published)
	if published == 0 {
		return RouterInfo{}, fmt.Errorf("router info: build: %w: published time %v", ErrBadTime, p.Published)
	}
	if len(p.Addresses) > 0xff {
		return RouterInfo{}, fmt.Errorf("router info: build: %w: %d addresses, limit 255", ErrTooLong, len(p.Addresses))
	}
	if !p.Options.IsSorted() {
		return RouterInfo{}, fmt.Errorf("router info: build: options: %w", ErrUnsortedMapping)
	}
	b, err := keys.Identity().Append(make([]byte, 0, 1024))
	if err != nil {
		return RouterInfo{}, fmt.Errorf("router info: build: %w", err)
	}
	b, _ = published.Append(b)
	b = append(b, byte(len(p.Addresses)))
	for i, a := range p.Addresses {
		if !a.Options.IsSorted() {
			return RouterInfo{}, fmt.Errorf("router info: build: address %d (%s): %w", i, a.Transport, ErrUnsortedMapping)
		}
		if b, err = a.Append(b); err != nil {
			return RouterInfo{}, fmt.Errorf("router info: build: address %d: %w", i, err)
		}
	}
	b = append(b, 0) // peer_size: unused, always 0
	if b, err = p.Options.Append(b); err != nil {
		return RouterInfo{}, fmt.Errorf("router info: build: options: %w", err)
	}
	if n := len(b) + keys.Identity().SignatureLen(); n >= MaxRouterInfoLen {
		return RouterInfo{}, fmt.Errorf("router info: build: %w: %d bytes, must stay below %d", ErrTooLong, n, MaxRouterInfoLen)
	}
	sig, err := keys.Sign(b)
	if err != nil {
		return RouterInfo{}, fmt.Errorf("router info: build: %w", err)
	}
	b = append(b, sig...)
	ri, n, err := ParseRouterInfo(b)
	if err != nil {
		return RouterInfo{}, fmt.Errorf("router info: build: reparse: %w", err)
	}
	if n != len(b) {
		return RouterInfo{}, fmt.Errorf("router info: build: reparse consumed %d of %d bytes", n, len(b))
	}
	return ri, nil
}

// i2pd's netDb file naming (FS.cpp HashedStorage, NetDb.cpp m_Storage):
// <netDb>/r<first base64 character>/routerInfo-<base64 hash>.dat.
const (
	riFilePrefix = "routerInfo-"
	riFileSuffix = ".dat"
	riDirPrefix  = "r"
)

// RouterInfoFileName returns i2pd's file name for the RouterInfo of h:
// "routerInfo-<base64 hash>.dat".
func RouterInfoFileName(h Hash) string { return riFilePrefix + h.Base64() + riFileSuffix }

// RouterInfoPath returns where i2pd keeps the RouterInfo of h under its
// netDb directory: netDbDir/r<first base64 character>/routerInfo-<hash>.dat.
// The I2P alphabet has no '/', so the hash is always one path element.
func RouterInfoPath(netDbDir string, h Hash) string {
	b64 := h.Base64()
	return filepath.Join(netDbDir, riDirPrefix+b64[:1], riFilePrefix+b64+riFileSuffix)
}

// ParseRouterInfoFileName returns the hash named by an i2pd netDb file
// name ("routerInfo-<base64 hash>.dat", without directories).
func ParseRouterInfoFileName(name string) (Hash, error) {
	s, ok := strings.CutPrefix(name, riFilePrefix)
	if ok {
		s, ok = strings.CutSuffix(s, riFileSuffix)
	}
	if !ok {
		return Hash{}, fmt.Errorf("%w: %q is not routerInfo-<hash>.dat", ErrMalformed, name)
	}
	raw, err := Base64Decode(s)
	if err != nil {
		return Hash{}, fmt.Errorf("router info file name %q: %w", name, err)
	}
	if len(raw) != HashLen {
		return Hash{}, fmt.Errorf("%w: %q names %d bytes, want a %d-byte hash", ErrMalformed, name, len(raw), HashLen)
	}
	return Hash(raw), nil
}
