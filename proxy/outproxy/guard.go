package outproxy

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// specialNets are the address blocks an outproxy refuses by default:
// everything in the IANA special-purpose registries (RFC 6890 and its
// updates) that is not globally reachable unicast, plus the transition
// prefixes that embed an IPv4 address, which could smuggle one of the
// former past a check of the IPv6 form.
var specialNets = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		// IPv4
		"0.0.0.0/8",       // "this network"
		"10.0.0.0/8",      // private (RFC 1918)
		"100.64.0.0/10",   // shared address space (CGNAT, RFC 6598)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation (TEST-NET-1)
		"192.88.99.0/24",  // 6to4 relay anycast (deprecated)
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking (RFC 2544): test networks live here
		"198.51.100.0/24", // documentation (TEST-NET-2)
		"203.0.113.0/24",  // documentation (TEST-NET-3)
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
		// IPv6
		"::/128",         // unspecified
		"::1/128",        // loopback
		"::ffff:0:0/96",  // IPv4-mapped (checked unmapped too)
		"64:ff9b::/96",   // NAT64 well-known prefix
		"64:ff9b:1::/48", // local-use NAT64
		"100::/64",       // discard-only
		"2001::/23",      // IETF protocol assignments (Teredo, ORCHID, ...)
		"2001:db8::/32",  // documentation
		"2002::/16",      // 6to4
		"3fff::/20",      // documentation (RFC 9637)
		"5f00::/16",      // segment routing SIDs
		"fc00::/7",       // unique local
		"fe80::/10",      // link-local
		"fec0::/10",      // site-local (deprecated)
		"ff00::/8",       // multicast
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// Guard decides which addresses an outproxy may connect to. The zero
// Guard refuses every special-purpose address.
type Guard struct {
	// AllowPrivate allows every address.
	AllowPrivate bool
	// Allow lists networks allowed although they are special.
	Allow []netip.Prefix
}

// Check returns nil when ip may be connected to, else an error matching
// ErrForbidden.
func (g Guard) Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrForbidden)
	}
	ip = ip.Unmap().WithZone("")
	if g.AllowPrivate {
		return nil
	}
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return nil
		}
	}
	for _, p := range specialNets {
		if p.Contains(ip) {
			return fmt.Errorf("%w: %s is in %s", ErrForbidden, ip, p)
		}
	}
	return nil
}

// control is a net.Dialer.Control hook: it runs after name resolution,
// for the very address about to be connected to, so a name that resolves
// (or re-resolves, DNS rebinding) to a private address is still refused.
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable dial address %q", ErrForbidden, address)
	}
	return g.Check(ap.Addr())
}

// Dialer returns a dialer that refuses what Check refuses; res resolves
// names (nil = the default resolver).
func (g Guard) Dialer(timeout time.Duration, res *net.Resolver) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Control: g.control, Resolver: res}
}
