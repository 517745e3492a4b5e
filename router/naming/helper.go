package naming

import (
	"fmt"
	"strings"

	"i2pbridge/router/data"
)

// HelperParam is the query parameter of address-helper links
// ("http://name.i2p/?i2paddresshelper=<dest>"), set by jump services.
const HelperParam = "i2paddresshelper"

// HelperKind tells what an address helper carried.
type HelperKind int

// Helper kinds.
const (
	// HelperDestination is a full base64 destination: it can be saved in
	// the address book.
	HelperDestination HelperKind = iota + 1
	// HelperB32 is a ".b32.i2p" name: it identifies the destination but
	// cannot be saved until the destination is fetched from its LeaseSet.
	HelperB32
)

func (k HelperKind) String() string {
	switch k {
	case HelperDestination:
		return "destination"
	case HelperB32:
		return "b32"
	}
	return fmt.Sprintf("HelperKind(%d)", int(k))
}

// AddressHelper is a validated i2paddresshelper value.
type AddressHelper struct {
	Kind HelperKind
	// Dest is set for HelperDestination.
	Dest data.Destination
	// Hash is the destination hash, set for both kinds.
	Hash data.Hash
}

// ParseAddressHelper validates the (already URL-decoded) value of an
// i2paddresshelper parameter: a base64 destination, or a ".b32.i2p" name
// (case-insensitive). Anything else, including a host name (which would let
// a link point one name at another through the user's own book), fails with
// ErrInvalidHelper. The value is not trimmed: a link that needs trimming is
// not a link a jump service produced.
func ParseAddressHelper(value string) (AddressHelper, error) {
	if value == "" {
		return AddressHelper{}, fmt.Errorf("%w: empty value", ErrInvalidHelper)
	}
	if strings.HasSuffix(asciiLower(value), data.B32Suffix) {
		h, err := data.ParseB32(value)
		if err != nil {
			return AddressHelper{}, fmt.Errorf("%w: %w", ErrInvalidHelper, err)
		}
		return AddressHelper{Kind: HelperB32, Hash: h}, nil
	}
	d, err := parseDestination(value)
	if err != nil {
		return AddressHelper{}, fmt.Errorf("%w: %w", ErrInvalidHelper, err)
	}
	return AddressHelper{Kind: HelperDestination, Dest: d, Hash: d.Hash()}, nil
}

// HelperVerdict is how an address helper relates to the address book.
type HelperVerdict int

// Helper verdicts.
const (
	// HelperNewName: the name is in no book; the helper may be offered
	// for saving.
	HelperNewName HelperVerdict = iota + 1
	// HelperMatches: the name already resolves to the helper's
	// destination; the parameter can be stripped and the request sent.
	HelperMatches
	// HelperConflicts: the name resolves to a different destination.
	// Someone may be impersonating the site; show both to the user.
	HelperConflicts
)

func (v HelperVerdict) String() string {
	switch v {
	case HelperNewName:
		return "new name"
	case HelperMatches:
		return "matches"
	case HelperConflicts:
		return "conflicts"
	}
	return fmt.Sprintf("HelperVerdict(%d)", int(v))
}

// HelperCheck is the result of Books.CheckHelper.
type HelperCheck struct {
	Verdict HelperVerdict
	// Name is the normalized host.
	Name string
	// Existing is the current entry (HelperMatches, HelperConflicts).
	Existing Match
}

// CheckHelper compares an address helper for host with the books. host
// must be a name that could be a book entry: a ".b32.i2p" or reserved host
// fails with ErrReservedName, since a helper for it is meaningless or an
// attack on the proxy's own names.
func (bs *Books) CheckHelper(host string, h AddressHelper) (HelperCheck, error) {
	name, err := NormalizeName(strings.TrimSuffix(host, "."))
	if err != nil {
		return HelperCheck{}, err
	}
	m, ok := bs.Lookup(name)
	switch {
	case !ok:
		return HelperCheck{Verdict: HelperNewName, Name: name}, nil
	case m.Dest.Hash() == h.Hash:
		return HelperCheck{Verdict: HelperMatches, Name: name, Existing: m}, nil
	default:
		return HelperCheck{Verdict: HelperConflicts, Name: name, Existing: m}, nil
	}
}
