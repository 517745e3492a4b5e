package data

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Transport styles i2pd 2.45 understands. It treats any style starting
// with "NTCP" as NTCP2 and any starting with "SSU" as SSU2, and skips the
// rest (RouterInfo::ReadFromStream).
const (
	TransportNTCP2 = "NTCP2"
	TransportSSU2  = "SSU2"
)

// Costs i2pd 2.45 gives its NTCP2 addresses (RouterInfo.h COST_NTCP2_*):
// lower is preferred.
const (
	NTCP2CostPublished   = 3
	NTCP2CostUnpublished = 14
)

// NTCP2 address option keys and sizes (ntcp2.rst "Published Router Info"):
// s is the static X25519 key and i the AES IV for obfuscating the ephemeral
// key in message 1, both in I2P base64; v is the protocol version, "2".
const (
	NTCP2StaticKeyLen = 32
	NTCP2IVLen        = 16
	optHost           = "host"
	optPort           = "port"
	optCaps           = "caps"
	optStatic         = "s"
	optIV             = "i"
	optVersion        = "v"
)

// routerAddressFixedLen is cost(1) + expiration(8).
const routerAddressFixedLen = 1 + DateLen

// RouterAddress is one way to reach a router (common-structures.rst
// "RouterAddress"):
//
//	cost(1) expiration(8, Date) transport_style(String) options(Mapping)
//
// Expiration must be all zeros ("Routers MUST set this field to all
// zeros"); ParseRouterAddress accepts other values, because the
// RouterInfo signature covers whatever the peer wrote, but Append refuses
// to write them (ErrNonzeroExpiration). Options keep their parsed order.
type RouterAddress struct {
	Cost       uint8
	Expiration Date
	Transport  string
	Options    Mapping
}

// ParseRouterAddress reads a RouterAddress from the start of b.
func ParseRouterAddress(b []byte) (RouterAddress, int, error) {
	if len(b) < routerAddressFixedLen {
		return RouterAddress{}, 0, fmt.Errorf("router address: %w: cost and expiration need %d bytes, have %d", ErrTruncated, routerAddressFixedLen, len(b))
	}
	a := RouterAddress{Cost: b[0]}
	exp, off, _ := ParseDate(b[1:])
	a.Expiration = exp
	off++
	style, n, err := ParseString(b[off:])
	if err != nil {
		return RouterAddress{}, 0, fmt.Errorf("router address: transport style: %w", err)
	}
	a.Transport = string(style)
	off += n
	opts, n, err := ParseMapping(b[off:])
	if err != nil {
		return RouterAddress{}, 0, fmt.Errorf("router address %s: options: %w", a.Transport, err)
	}
	a.Options = opts
	return a, off + n, nil
}

// Len returns the encoded length.
func (a RouterAddress) Len() int {
	return routerAddressFixedLen + String(a.Transport).Len() + a.Options.Len()
}

// Append appends the encoded address to b. A nonzero Expiration is refused.
func (a RouterAddress) Append(b []byte) ([]byte, error) {
	if a.Expiration != 0 {
		return b, fmt.Errorf("router address %s: %w (have %d)", a.Transport, ErrNonzeroExpiration, a.Expiration)
	}
	return a.append(b)
}

// append writes every field as held, including a nonzero expiration; tests
// use it to check that parsing lost nothing.
func (a RouterAddress) append(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, a.Cost)
	b, _ = a.Expiration.Append(b)
	b, err := String(a.Transport).Append(b)
	if err != nil {
		return b[:start], fmt.Errorf("router address: transport style: %w", err)
	}
	b, err = a.Options.Append(b)
	if err != nil {
		return b[:start], fmt.Errorf("router address %s: options: %w", a.Transport, err)
	}
	return b, nil
}

// Option returns the value of an address option.
func (a RouterAddress) Option(key string) (string, bool) { return a.Options.Get(key) }

// NTCP2Address holds the options of an NTCP2 RouterAddress.
//
// A published address has a host, a port and the IV i; i2pd decides
// "published" by the presence of i. An unpublished address (a router that
// cannot take incoming connections) carries only s, v and caps (4 for IPv4,
// 6 for IPv6), as i2pd 2.45 writes it (LocalRouterInfo::WriteToStream).
type NTCP2Address struct {
	// StaticKey is the router's NTCP2 static X25519 public key (s).
	StaticKey [NTCP2StaticKeyLen]byte
	// IV obfuscates message 1's ephemeral key (i); published only.
	IV [NTCP2IVLen]byte
	// AddrPort is host and port; the zero value means unpublished.
	AddrPort netip.AddrPort
	// Caps is the caps option of an unpublished address ("4", "6" or
	// "46"); NewNTCP2Address uses "4" when it is empty. Ignored for a
	// published address, to which i2pd writes no caps.
	Caps string
}

// Published reports whether the address can be dialled.
func (n NTCP2Address) Published() bool { return n.AddrPort.IsValid() }

// NewNTCP2Address returns the RouterAddress for n: transport "NTCP2",
// expiration 0, and sorted options host, i, port, s, v=2 with cost 3 when
// published, or caps, s, v=2 with cost 14 when not (i2pd 2.45's costs).
// Host is written in its canonical form (netip), as i2pd writes it.
func NewNTCP2Address(n NTCP2Address) (RouterAddress, error) {
	kv := map[string]string{
		optStatic:  Base64Encode(n.StaticKey[:]),
		optVersion: "2",
	}
	cost := uint8(NTCP2CostUnpublished)
	if n.Published() {
		addr := n.AddrPort.Addr()
		if !addr.IsValid() || addr.IsUnspecified() || n.AddrPort.Port() == 0 {
			return RouterAddress{}, fmt.Errorf("ntcp2 address: %w: host %s port %d cannot be published", ErrOption, addr, n.AddrPort.Port())
		}
		kv[optHost] = addr.Unmap().String()
		kv[optPort] = strconv.Itoa(int(n.AddrPort.Port()))
		kv[optIV] = Base64Encode(n.IV[:])
		cost = NTCP2CostPublished
	} else {
		caps := n.Caps
		if caps == "" {
			caps = "4"
		}
		kv[optCaps] = caps
	}
	opts, err := NewMapping(kv)
	if err != nil {
		return RouterAddress{}, fmt.Errorf("ntcp2 address: %w", err)
	}
	return RouterAddress{Cost: cost, Transport: TransportNTCP2, Options: opts}, nil
}

// NTCP2 reads the NTCP2 options of a. The transport must be "NTCP2" (or
// "NTCP", which i2pd also reads as NTCP2) and s must be a 32-byte key. When
// i is present it must be a 16-byte IV and host and port must be a valid
// IP address and a nonzero port: i2pd treats i as "published". Without i,
// host and port are ignored and AddrPort is zero. v, when present, must be
// "2".
func (a RouterAddress) NTCP2() (NTCP2Address, error) {
	var n NTCP2Address
	if a.Transport != TransportNTCP2 && a.Transport != "NTCP" {
		return n, fmt.Errorf("%w: transport %q is not NTCP2", ErrOption, a.Transport)
	}
	if v, ok := a.Options.Get(optVersion); ok && v != "2" {
		return n, fmt.Errorf("%w: NTCP2 v=%q, want 2", ErrOption, v)
	}
	if err := decodeFixedB64(a.Options, optStatic, n.StaticKey[:]); err != nil {
		return n, err
	}
	n.Caps, _ = a.Options.Get(optCaps)
	if _, ok := a.Options.Get(optIV); !ok {
		return n, nil
	}
	if err := decodeFixedB64(a.Options, optIV, n.IV[:]); err != nil {
		return n, err
	}
	host, _ := a.Options.Get(optHost)
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.IsUnspecified() || addr.Zone() != "" {
		return n, fmt.Errorf("%w: NTCP2 host %q is not an IP address", ErrOption, host)
	}
	portStr, _ := a.Options.Get(optPort)
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return n, fmt.Errorf("%w: NTCP2 port %q", ErrOption, portStr)
	}
	n.AddrPort = netip.AddrPortFrom(addr.Unmap(), uint16(port))
	return n, nil
}

// decodeFixedB64 decodes option key as I2P base64 of exactly len(dst)
// bytes.
func decodeFixedB64(m Mapping, key string, dst []byte) error {
	s, ok := m.Get(key)
	if !ok {
		return fmt.Errorf("%w: option %s missing", ErrOption, key)
	}
	raw, err := Base64Decode(s)
	if err != nil {
		return fmt.Errorf("%w: option %s: %w", ErrOption, key, err)
	}
	if len(raw) != len(dst) {
		return fmt.Errorf("%w: option %s is %d bytes, want %d", ErrOption, key, len(raw), len(dst))
	}
	copy(dst, raw)
	return nil
}
