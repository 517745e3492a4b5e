package netdb

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"time"

	"i2pbridge/router/data"
)

// RoutingKey returns the key under which h is stored on day t: SHA-256 of
// the 32 hash bytes followed by the UTC date as ASCII "yyyyMMdd"
// (network-database.html §"Kademlia Closeness Metric"). Keys move every
// midnight UTC, so that no router can camp next to a key for long; lookups
// just after midnight may briefly miss.
func RoutingKey(h data.Hash, t time.Time) data.Hash {
	var buf [data.HashLen + 8]byte
	copy(buf[:], h[:])
	t.UTC().AppendFormat(buf[data.HashLen:data.HashLen], "20060102")
	return sha256.Sum256(buf[:])
}

// Distance is the Kademlia XOR metric between a routing key and a router
// hash. Only the searched key is transformed into a routing key; router
// hashes are used as they are (i2pd NetDb::GetClosestFloodfill XORs the
// routing key with the plain ident hash), so both sides of the network
// agree on who is closest.
func Distance(routingKey, router data.Hash) data.Hash {
	var d data.Hash
	for i := range d {
		d[i] = routingKey[i] ^ router[i]
	}
	return d
}

// Closer reports whether a is closer to routingKey than b.
func Closer(routingKey, a, b data.Hash) bool {
	da, db := Distance(routingKey, a), Distance(routingKey, b)
	return bytes.Compare(da[:], db[:]) < 0
}

// SortByDistance orders hashes from closest to farthest from routingKey.
func SortByDistance(routingKey data.Hash, hs []data.Hash) {
	slices.SortFunc(hs, func(a, b data.Hash) int {
		da, db := Distance(routingKey, a), Distance(routingKey, b)
		return bytes.Compare(da[:], db[:])
	})
}

// Closest returns up to n of candidates closest to routingKey, closest
// first, leaving out those in exclude. candidates is not modified.
func Closest(routingKey data.Hash, candidates []data.Hash, n int, exclude map[data.Hash]bool) []data.Hash {
	out := make([]data.Hash, 0, len(candidates))
	for _, h := range candidates {
		if !exclude[h] {
			out = append(out, h)
		}
	}
	SortByDistance(routingKey, out)
	if len(out) > n {
		out = out[:n]
	}
	return out
}
