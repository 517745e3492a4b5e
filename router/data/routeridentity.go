package data

import "fmt"

// RouterIdentity is the public identity of a router, a KeysAndCert like
// Destination (common-structures.rst "RouterIdentity"). Its Hash is the
// router hash used in the netDb and in NTCP2. The zero value holds nothing.
type RouterIdentity struct {
	KeysAndCert
}

// ParseRouterIdentity reads a RouterIdentity from the start of b and
// returns the number of bytes consumed.
func ParseRouterIdentity(b []byte) (RouterIdentity, int, error) {
	kc, n, err := ParseKeysAndCert(b)
	if err != nil {
		return RouterIdentity{}, 0, fmt.Errorf("router identity: %w", err)
	}
	return RouterIdentity{kc}, n, nil
}

// String returns the short base64 hash, enough to tell routers apart in
// logs.
func (r RouterIdentity) String() string {
	if r.IsZero() {
		return "<no router>"
	}
	return r.hash.Short()
}
