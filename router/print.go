package router

import (
	"fmt"
	"io"
	"strings"
	"time"

	"i2pbridge/router/data"
)

// Names of the key types a RouterInfo may carry (common-structures.rst
// §"Key Certificates").
var (
	cryptoTypeNames = map[uint16]string{0: "ElGamal", 1: "P256", 2: "P384", 3: "P521", 4: "X25519"}
	sigTypeNames    = map[uint16]string{0: "DSA-SHA1", 1: "ECDSA-P256", 2: "ECDSA-P384", 3: "ECDSA-P521",
		4: "RSA-2048", 5: "RSA-3072", 6: "RSA-4096", 7: "Ed25519", 8: "Ed25519ph", 11: "RedDSA"}
)

func typeName(names map[uint16]string, t uint16) string {
	if n, ok := names[t]; ok {
		return fmt.Sprintf("%d (%s)", t, n)
	}
	return fmt.Sprint(t)
}

// PrintRouterInfo writes a RouterInfo file's content as text: hash,
// identity key types, published time, caps, netId, version, every option,
// every address with its options, and whether the signature verifies. It
// fails when b does not parse; a bad signature is printed and also returned
// as an error (wrapping data.ErrBadSignature when that is the cause), so a
// command can exit non-zero.
func PrintRouterInfo(w io.Writer, b []byte) error {
	ri, n, err := data.ParseRouterInfo(b)
	if err != nil {
		return fmt.Errorf("router: not a RouterInfo: %w", err)
	}
	var p strings.Builder
	fmt.Fprintf(&p, "RouterInfo %s\n", ri.Hash().Base64())
	if n != len(b) {
		fmt.Fprintf(&p, "  warning:   %d bytes after the RouterInfo\n", len(b)-n)
	}
	id := ri.Identity()
	fmt.Fprintf(&p, "  identity:  crypto type %s, signing type %s\n",
		typeName(cryptoTypeNames, id.CryptoType()), typeName(sigTypeNames, id.SigningType()))
	pub := ri.Published().Time()
	fmt.Fprintf(&p, "  published: %s (%s ago)\n", pub.UTC().Format(time.RFC3339Nano), time.Since(pub).Round(time.Second))
	netID, _ := ri.Option(data.OptionNetID)
	fmt.Fprintf(&p, "  caps:      %q  netId: %s  version: %s  floodfill: %t\n", ri.Caps(), netID, ri.RouterVersion(), ri.IsFloodfill())
	fmt.Fprintf(&p, "  options:\n")
	for _, e := range ri.Options().Entries() {
		fmt.Fprintf(&p, "    %s=%s\n", e.Key, e.Value)
	}
	for i, a := range ri.Addresses() {
		fmt.Fprintf(&p, "  address %d: %s cost %d", i, a.Transport, a.Cost)
		if !a.Expiration.IsZero() {
			fmt.Fprintf(&p, " expiration %s", a.Expiration)
		}
		p.WriteString("\n")
		for _, e := range a.Options.Entries() {
			fmt.Fprintf(&p, "    %s=%s\n", e.Key, e.Value)
		}
	}
	verr := ri.Verify()
	if verr == nil {
		fmt.Fprintf(&p, "  signature: valid\n")
	} else {
		fmt.Fprintf(&p, "  signature: INVALID (%v)\n", verr)
	}
	if _, err := io.WriteString(w, p.String()); err != nil {
		return fmt.Errorf("router: print RouterInfo: %w", err)
	}
	if verr != nil {
		return fmt.Errorf("router: RouterInfo %s: %w", ri.Hash().Short(), verr)
	}
	return nil
}
