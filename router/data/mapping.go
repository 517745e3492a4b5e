package data

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxMappingSize is the largest Mapping body; its size field is 2 bytes.
const MaxMappingSize = 0xffff

// mappingSizeLen is the 2-byte size that starts a Mapping.
const mappingSizeLen = 2

// MappingEntry is one key=value pair of a Mapping.
type MappingEntry struct {
	Key, Value string
}

// Mapping is a set of key/value options (common-structures.rst
// "Mapping"):
//
//	size(2, big endian) then, size bytes long, repeated:
//	key String, '=', value String, ';'
//
// An empty Mapping is 00 00. The zero value is the empty Mapping. A Mapping
// is immutable once made: NewMapping and With return sorted copies, and
// Entries returns a copy.
//
// Order and duplicates. Mappings in RouterInfo, RouterAddress, LeaseSet2
// and I2CP must be sorted by key and have no duplicates, so that a
// re-serialised structure keeps its signature. NewMapping and With sort with
// CompareKeys (Java's String.compareTo, the order Java I2P writes).
// ParseMapping refuses duplicates (as Java's DataHelper.readProperties
// does; everything a Mapping travels in is signed) but keeps whatever order
// the peer used, and Append writes entries in the order they are held. Since
// every String carries its own length and the separators are fixed, one
// ordered entry list has exactly one encoding: Append of a parsed Mapping
// reproduces its input byte for byte, without keeping the raw bytes. The
// signed structures (RouterInfo, LeaseSet2) keep their raw bytes anyway and
// never re-serialise to verify. IsSorted tells whether a parsed Mapping is
// in canonical order; builders refuse one that is not.
type Mapping struct {
	entries []MappingEntry
}

// NewMapping returns the entries of kv sorted by CompareKeys. A nil or empty
// map gives the empty Mapping.
func NewMapping(kv map[string]string) (Mapping, error) {
	keys := slices.SortedFunc(maps.Keys(kv), CompareKeys)
	entries := make([]MappingEntry, 0, len(keys))
	for _, k := range keys {
		entries = append(entries, MappingEntry{k, kv[k]})
	}
	m := Mapping{entries}
	if err := m.check(); err != nil {
		return Mapping{}, err
	}
	return m, nil
}

// ParseMapping reads a Mapping from the start of b. The whole declared size
// must be present (otherwise ErrTruncated); within it, entries must be
// complete, separated by '=' and ';', and fill the size exactly
// (ErrMalformed), with no key twice (ErrDuplicateKey). Entry order is kept.
func ParseMapping(b []byte) (Mapping, int, error) {
	if len(b) < mappingSizeLen {
		return Mapping{}, 0, fmt.Errorf("%w: mapping size needs %d bytes, have %d", ErrTruncated, mappingSizeLen, len(b))
	}
	size := int(binary.BigEndian.Uint16(b))
	if len(b)-mappingSizeLen < size {
		return Mapping{}, 0, fmt.Errorf("%w: mapping of %d bytes, have %d", ErrTruncated, size, len(b)-mappingSizeLen)
	}
	body := b[mappingSizeLen : mappingSizeLen+size]
	var entries []MappingEntry
	seen := make(map[string]struct{})
	for off := 0; off < len(body); {
		i := len(entries)
		key, n, err := ParseString(body[off:])
		if err != nil {
			return Mapping{}, 0, fmt.Errorf("%w: mapping entry %d: key runs past the %d-byte mapping", ErrMalformed, i, size)
		}
		off += n
		if off >= len(body) || body[off] != '=' {
			return Mapping{}, 0, fmt.Errorf("%w: mapping entry %d (%q): '=' missing after the key", ErrMalformed, i, key)
		}
		off++
		val, n, err := ParseString(body[off:])
		if err != nil {
			return Mapping{}, 0, fmt.Errorf("%w: mapping entry %d (%q): value runs past the %d-byte mapping", ErrMalformed, i, key, size)
		}
		off += n
		if off >= len(body) || body[off] != ';' {
			return Mapping{}, 0, fmt.Errorf("%w: mapping entry %d (%q): ';' missing after the value", ErrMalformed, i, key)
		}
		off++
		if _, dup := seen[string(key)]; dup {
			return Mapping{}, 0, fmt.Errorf("%w: %q", ErrDuplicateKey, key)
		}
		seen[string(key)] = struct{}{}
		entries = append(entries, MappingEntry{string(key), string(val)})
	}
	return Mapping{entries}, mappingSizeLen + size, nil
}

// bodyLen is the encoded length without the size field.
func (m Mapping) bodyLen() int {
	n := 0
	for _, e := range m.entries {
		n += 1 + len(e.Key) + 1 + 1 + len(e.Value) + 1
	}
	return n
}

// check enforces the String and size limits.
func (m Mapping) check() error {
	for _, e := range m.entries {
		if len(e.Key) > MaxStringLen || len(e.Value) > MaxStringLen {
			return fmt.Errorf("%w: mapping entry %.20q: key %d and value %d bytes, limit %d each", ErrTooLong, e.Key, len(e.Key), len(e.Value), MaxStringLen)
		}
	}
	if n := m.bodyLen(); n > MaxMappingSize {
		return fmt.Errorf("%w: mapping of %d bytes, limit %d", ErrTooLong, n, MaxMappingSize)
	}
	return nil
}

// Len returns the encoded length, size field included.
func (m Mapping) Len() int { return mappingSizeLen + m.bodyLen() }

// Append appends the encoded Mapping to b, entries in the order held.
func (m Mapping) Append(b []byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return b, err
	}
	b = binary.BigEndian.AppendUint16(b, uint16(m.bodyLen()))
	for _, e := range m.entries {
		b = append(b, byte(len(e.Key)))
		b = append(b, e.Key...)
		b = append(b, '=', byte(len(e.Value)))
		b = append(b, e.Value...)
		b = append(b, ';')
	}
	return b, nil
}

// Count returns the number of entries.
func (m Mapping) Count() int { return len(m.entries) }

// Get returns the value of key.
func (m Mapping) Get(key string) (string, bool) {
	for _, e := range m.entries {
		if e.Key == key {
			return e.Value, true
		}
	}
	return "", false
}

// Entries returns a copy of the entries in the order held.
func (m Mapping) Entries() []MappingEntry { return slices.Clone(m.entries) }

// IsSorted reports whether the keys are strictly increasing under
// CompareKeys: the canonical order, which also rules out duplicates.
func (m Mapping) IsSorted() bool {
	for i := 1; i < len(m.entries); i++ {
		if CompareKeys(m.entries[i-1].Key, m.entries[i].Key) >= 0 {
			return false
		}
	}
	return true
}

// With returns a sorted copy of m with key set to value (added or
// replaced).
func (m Mapping) With(key, value string) (Mapping, error) {
	kv := make(map[string]string, len(m.entries)+1)
	for _, e := range m.entries {
		kv[e.Key] = e.Value
	}
	kv[key] = value
	return NewMapping(kv)
}

// String shows the entries as key=value pairs for logs and test failures.
func (m Mapping) String() string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, e := range m.entries {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%q=%q", e.Key, e.Value)
	}
	sb.WriteByte('}')
	return sb.String()
}

// CompareKeys orders Mapping keys as Java's String.compareTo does, which is
// the order common-structures.rst "Mapping" prescribes: by UTF-16 code
// units. For keys below U+E000 (all ASCII keys in practice) this is plain
// byte order, the order i2pd's std::map writes; the two differ only when a
// character above U+FFFF meets one in U+E000..U+FFFF. Keys that are not
// valid UTF-8 are compared as bytes.
func CompareKeys(a, b string) int {
	if !utf8.ValidString(a) || !utf8.ValidString(b) {
		return strings.Compare(a, b)
	}
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			a1, a2 := utf16Units(ra)
			b1, b2 := utf16Units(rb)
			if c := cmp.Compare(a1, b1); c != 0 {
				return c
			}
			return cmp.Compare(a2, b2)
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

// utf16Units returns the UTF-16 code units of r (the second is 0 for a
// character in the Basic Multilingual Plane).
func utf16Units(r rune) (uint16, uint16) {
	if r < 0x10000 {
		return uint16(r), 0
	}
	hi, lo := utf16.EncodeRune(r)
	return uint16(hi), uint16(lo)
}
