package naming

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"i2pbridge/router/data"
)

// Sentinel errors. Functions wrap them with the offending value and the
// reason, so errors.Is works and the message says what is wrong.
var (
	// ErrInvalidName reports a host name that breaks the naming rules.
	ErrInvalidName = errors.New("naming: invalid host name")
	// ErrReservedName reports a syntactically valid name that may not be an
	// address book entry (".b32.i2p" names, proxy.i2p, ...).
	ErrReservedName = errors.New("naming: reserved host name")
	// ErrInvalidDestination reports an entry or helper whose destination
	// is not a valid base64 Destination.
	ErrInvalidDestination = errors.New("naming: invalid destination")
	// ErrSyntax reports a hosts.txt line that is neither a comment, an
	// entry nor a command.
	ErrSyntax = errors.New("naming: malformed hosts.txt line")
	// ErrDuplicate reports a name given twice, with different
	// destinations, in one hosts.txt file (the first line is kept).
	ErrDuplicate = errors.New("naming: duplicate name")
	// ErrConflict is matched (errors.Is) by every *ConflictError.
	ErrConflict = errors.New("naming: name already maps to another destination")
	// ErrInvalidHelper reports an i2paddresshelper value that is neither a
	// base64 destination nor a ".b32.i2p" name.
	ErrInvalidHelper = errors.New("naming: invalid address helper")
)

// Naming rule limits (naming.html "Naming Rules").
const (
	// MaxNameLen is the longest valid name, ".i2p" included (63 + 4).
	MaxNameLen = 67
	// i2pSuffix ends every I2P host name.
	i2pSuffix = ".i2p"
	// b32SpoofLen is the length of "<52 base32 characters>.i2p": a name
	// that reads like a base32 address without the ".b32" label, which
	// the Java addressbook refuses so that it cannot pose as one.
	b32SpoofLen = 52 + len(i2pSuffix)
	// MaxDestinationBase64 bounds a base64 destination before it is
	// decoded. The largest destination with a known key type (RSA-4096
	// signing key: 387-byte key area and certificate header, 4 type
	// bytes, 384 excess key bytes) is 1036 base64 characters; hosts.txt
	// files in the wild stay under 616 (the Java import limit).
	MaxDestinationBase64 = 2048
)

// reservedNames may not be book entries, nor may any of their subdomains:
// the proxy and router use them for local pages (naming.html). "b32.i2p"
// is here so that "*.b32.i2p" entries can never shadow base32 addresses.
var reservedNames = [...]string{"b32.i2p", "proxy.i2p", "router.i2p", "console.i2p"}

// asciiLower lower-cases A-Z only. strings.ToLower would also fold
// non-ASCII letters into ASCII ones (U+212A KELVIN SIGN becomes 'k'), which
// would let a look-alike name turn into a valid one.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}

// NormalizeName lower-cases name and checks that it may be an address book
// entry: the naming rules (only [a-z0-9.-], ends in ".i2p", at most 67
// characters, no leading '.' or '-', no "..", ".-" or "-.", "--" only in an
// "xn--" IDN label) and the reserved names (".b32.i2p" and "b32.i2p",
// proxy/router/console.i2p and their subdomains, and 52 base32
// characters + ".i2p"). It returns the normalized name.
func NormalizeName(name string) (string, error) {
	n := asciiLower(name)
	if err := checkSyntax(n); err != nil {
		return "", err
	}
	if reason := reservedReason(n); reason != "" {
		return "", fmt.Errorf("%w: %s: %s", ErrReservedName, quoteName(n), reason)
	}
	return n, nil
}

// checkSyntax applies the character and shape rules to a lower-cased name.
func checkSyntax(n string) error {
	bad := func(reason string) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidName, quoteName(n), reason)
	}
	switch {
	case len(n) > MaxNameLen:
		return bad(fmt.Sprintf("%d characters, at most %d allowed", len(n), MaxNameLen))
	case !strings.HasSuffix(n, i2pSuffix) || len(n) == len(i2pSuffix):
		return bad("must be a name ending in .i2p")
	case n[0] == '.' || n[0] == '-':
		return bad("must not start with '.' or '-'")
	case strings.Contains(n, ".."):
		return bad("empty label")
	case strings.Contains(n, ".-") || strings.Contains(n, "-."):
		return bad("a label must not start or end with '-'")
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return bad(fmt.Sprintf("character %q at %d is not one of [a-z0-9.-]", c, i))
		}
	}
	// "--" is the IDN (punycode) marker and nothing else: a label that
	// contains it must start with "xn--".
	for label := range strings.SplitSeq(n, ".") {
		if strings.Contains(label, "--") && !strings.HasPrefix(label, "xn--") {
			return bad(fmt.Sprintf("label %q contains \"--\" but is not an xn-- IDN label", label))
		}
	}
	return nil
}

// quoteName quotes a name for an error message, shortened: the "name" of
// a garbled line can be a whole destination.
func quoteName(n string) string {
	const keep = 80
	if len(n) > keep {
		return strconv.Quote(n[:keep]) + "..."
	}
	return strconv.Quote(n)
}

// reservedReason says why a syntactically valid name cannot be a book
// entry, or returns "".
func reservedReason(n string) string {
	for _, r := range reservedNames {
		if n == r || strings.HasSuffix(n, "."+r) {
			return "reserved name (" + r + ")"
		}
	}
	if len(n) == b32SpoofLen && isBase32(n[:52]) {
		return "52 base32 characters read as a base32 address"
	}
	return ""
}

func isBase32(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// HostKind tells what a host in a URL names.
type HostKind int

// Host kinds.
const (
	// HostName is an address book name, resolved through Books.
	HostName HostKind = iota + 1
	// HostB32 is a ".b32.i2p" name: the destination hash itself.
	HostB32
)

func (k HostKind) String() string {
	switch k {
	case HostName:
		return "name"
	case HostB32:
		return "b32"
	}
	return fmt.Sprintf("HostKind(%d)", int(k))
}

// Host is a parsed ".i2p" host (no port).
type Host struct {
	Kind HostKind
	// Name is the lower-cased host.
	Name string
	// Hash is the destination hash of a HostB32.
	Hash data.Hash
	// Reserved marks a HostName that can never be in a book
	// (proxy.i2p, console.i2p, ...): the proxy may serve it itself.
	Reserved bool
}

// ParseHost classifies the host part of a URL (without port). One trailing
// dot (the absolute DNS form "name.i2p.") is removed, since it names the
// same host. A ".b32.i2p" host is decoded with data.ParseB32, so the
// 56+ character encrypted-LeaseSet form fails with data.ErrEncryptedB32.
func ParseHost(host string) (Host, error) {
	n := asciiLower(strings.TrimSuffix(host, "."))
	if strings.HasSuffix(n, data.B32Suffix) {
		h, err := data.ParseB32(n)
		if err != nil {
			return Host{}, fmt.Errorf("naming: host %q: %w", host, err)
		}
		return Host{Kind: HostB32, Name: n, Hash: h}, nil
	}
	if err := checkSyntax(n); err != nil {
		return Host{}, err
	}
	return Host{Kind: HostName, Name: n, Reserved: reservedReason(n) != ""}, nil
}
