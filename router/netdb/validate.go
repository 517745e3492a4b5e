package netdb

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/ntcp2"
)

// Acceptance limits for RouterInfos (i2pd NetDb.hpp).
const (
	// MaxFuture is how far ahead of our clock a RouterInfo's published
	// time may be (NETDB_EXPIRATION_TIMEOUT_THRESHOLD, 2 minutes).
	MaxFuture = 2 * time.Minute
	// MaxAge is the oldest RouterInfo accepted from the network: i2pd
	// forgets routers after NETDB_MAX_EXPIRATION_TIMEOUT, 27 hours.
	MaxAge = 27 * time.Hour
	// MaxSeedAge is the oldest RouterInfo accepted from disk and reseed
	// files (i2pd NETDB_MAX_OFFLINE_EXPIRATION_TIMEOUT, 180 days): a router
	// that was offline for a while still finds its old peers.
	MaxSeedAge = 180 * 24 * time.Hour
	// FloodfillExpiration is how long a floodfill keeps a RouterInfo
	// (NETDB_FLOODFILL_EXPIRATION_TIMEOUT, 1 hour); routers republish
	// every 40 minutes at most.
	FloodfillExpiration = time.Hour
	// MinExpiration is the shortest a non-floodfill keeps one
	// (NETDB_MIN_EXPIRATION_TIMEOUT, 90 minutes).
	MinExpiration = 90 * time.Minute
)

// minFloodfillVersion is the oldest router.version i2pd uses as a
// floodfill (NETDB_MIN_FLOODFILL_VERSION, 0.9.38).
var minFloodfillVersion = version(0, 9, 38)

// Sentinel errors.
var (
	ErrInvalid   = errors.New("netdb: invalid entry")
	ErrNotFound  = errors.New("netdb: not found")
	ErrNoPeers   = errors.New("netdb: no floodfill to ask")
	ErrClosed    = errors.New("netdb: not running")
	ErrSignature = errors.New("netdb: su3 signature invalid")
	ErrFormat    = errors.New("netdb: bad file format")
	ErrConfig    = errors.New("netdb: invalid configuration")
)

// ParseRouterInfo parses b, which must hold exactly one RouterInfo, and
// verifies its signature.
func ParseRouterInfo(b []byte) (data.RouterInfo, error) {
	ri, n, err := data.ParseRouterInfo(b)
	if err != nil {
		return data.RouterInfo{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if n != len(b) {
		return data.RouterInfo{}, fmt.Errorf("%w: %d bytes after the RouterInfo", ErrInvalid, len(b)-n)
	}
	if err := ri.Verify(); err != nil {
		return data.RouterInfo{}, fmt.Errorf("%w: %s: %w", ErrInvalid, ri.Hash().Short(), err)
	}
	return ri, nil
}

// CheckRouterInfo applies what i2pd requires of a RouterInfo before it
// stores one (RouterInfo::ReadFromStream, NetDb::AddRouterInfo): our
// netId, a router.version, at least one address, published no more than
// MaxFuture ahead and no more than maxAge ago. The signature is checked by
// ParseRouterInfo.
func CheckRouterInfo(ri data.RouterInfo, netID int, now time.Time, maxAge time.Duration) error {
	id, err := ri.NetID()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, ri.Hash().Short(), err)
	}
	if id != netID {
		return fmt.Errorf("%w: %s: netId %d, ours %d", ErrInvalid, ri.Hash().Short(), id, netID)
	}
	if _, ok := parseVersion(ri.RouterVersion()); !ok {
		return fmt.Errorf("%w: %s: router.version %q", ErrInvalid, ri.Hash().Short(), ri.RouterVersion())
	}
	if len(ri.Addresses()) == 0 {
		return fmt.Errorf("%w: %s: no addresses", ErrInvalid, ri.Hash().Short())
	}
	pub := ri.Published().Time()
	if pub.After(now.Add(MaxFuture)) {
		return fmt.Errorf("%w: %s: published %v ahead", ErrInvalid, ri.Hash().Short(), pub.Sub(now).Round(time.Second))
	}
	if maxAge > 0 && pub.Before(now.Add(-maxAge)) {
		return fmt.Errorf("%w: %s: published %v ago", ErrInvalid, ri.Hash().Short(), now.Sub(pub).Round(time.Second))
	}
	return nil
}

func version(a, b, c int) int { return a*1_000_000 + b*1_000 + c }

// parseVersion reads "a.b.c" (i2pd accepts any dotted numbers and needs a
// nonzero result).
func parseVersion(s string) (int, bool) {
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 3 {
		return 0, false
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 999 {
			return 0, false
		}
		n[i] = v
	}
	v := version(n[0], n[1], n[2])
	return v, v > 0
}

// Dialable reports whether we can reach ri: it publishes an NTCP2 address
// with host, port, s and i.
func Dialable(ri data.RouterInfo) bool {
	_, err := ntcp2.PeerAddress(ri)
	return err == nil
}

// reachableV4 reports whether ri publishes an IPv4 NTCP2 or SSU2 address
// that others can connect to (i2pd IsReachableBy(eNTCP2V4 | eSSU2V4)).
func reachableV4(ri data.RouterInfo) bool {
	for _, a := range ri.Addresses() {
		switch a.Transport {
		case "NTCP2", "SSU2":
		default:
			continue
		}
		host, ok := a.Option("host")
		if !ok {
			continue
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is4() {
			continue
		}
		if _, ok := a.Option("port"); !ok {
			continue
		}
		if a.Transport == "NTCP2" {
			if _, ok := a.Option("i"); !ok {
				continue
			}
		}
		return true
	}
	return false
}

// EligibleFloodfill reports whether ri is a floodfill i2pd would use:
// cap f, router.version at least 0.9.38, reachable over IPv4 (i2pd
// RouterInfo::IsEligibleFloodfill; DSA identities are refused by data
// already).
func EligibleFloodfill(ri data.RouterInfo) bool {
	if !ri.IsFloodfill() {
		return false
	}
	v, ok := parseVersion(ri.RouterVersion())
	return ok && v >= minFloodfillVersion && reachableV4(ri)
}
