package garlic

import (
	"fmt"
	"sync"
	"time"
)

// TagLen is the length of a session tag: an opaque 8-byte string, never an
// integer (protocol-map.md §0; i2pd keeps it as a uint64 in host order,
// which on the wire is just the 8 bytes).
const TagLen = 8

// Tag is a one-time session tag.
type Tag [TagLen]byte

// DefaultTagLifetime is how long a reply tag stays valid when the caller
// has no better figure. i2pd keeps a SymmetricKeyTagSet for the receive
// expiration of ratchet sessions, 600 s (ECIESX25519_INCOMING_TAGS_EXPIRATION_TIMEOUT
// checks); a tunnel build reply arrives within seconds and a lookup reply
// within about 10 s, so 10 minutes is generous without keeping keys
// forever.
const DefaultTagLifetime = 10 * time.Minute

// DefaultMaxTags bounds a TagTable when the caller gives no limit: each
// entry is about 100 bytes, and a router has a few pending lookups and
// tunnel builds at a time.
const DefaultMaxTags = 4096

// TagTable is a router's table of single-use reply tags: 8-byte tag →
// 32-byte ChaCha20-Poly1305 key, each with an expiry (ecies-routers.rst
// §"Reply encryption"; i2np.rst §"Reply format"; tunnel-creation-ecies.rst
// §"KDF", RGarlicKeyAndTag). A tag is removed by its first use, by expiry,
// or by Remove. It is safe for concurrent use: the netDb adds tags for
// lookups and the tunnel builder for OutboundTunnelBuildReplies while the
// message loop takes them.
type TagTable struct {
	mu  sync.Mutex
	m   map[Tag]tagEntry
	max int
}

type tagEntry struct {
	key     [32]byte
	expires time.Time
}

// NewTagTable returns an empty table holding at most max tags (0 means
// DefaultMaxTags).
func NewTagTable(max int) *TagTable {
	if max <= 0 {
		max = DefaultMaxTags
	}
	return &TagTable{m: make(map[Tag]tagEntry), max: max}
}

// Add registers tag with its key until expires. A tag already present is
// refused (ErrDuplicateTag): tags are random 8-byte strings, so a clash
// means a bug or an attack, and replacing the key would break the pending
// reply. A full table refuses new tags (ErrTagTableFull) until Expire or
// Take makes room.
func (t *TagTable) Add(tag Tag, key [32]byte, expires time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[tag]; ok {
		return fmt.Errorf("%w: %x", ErrDuplicateTag, tag[:])
	}
	if len(t.m) >= t.max {
		return fmt.Errorf("%w: %d tags", ErrTagTableFull, len(t.m))
	}
	t.m[tag] = tagEntry{key: key, expires: expires}
	return nil
}

// Take removes tag and returns its key when it is present and not expired
// at now. A tag is single use: a second Take of the same tag fails, which
// is what makes replays of tag-only messages fail.
func (t *TagTable) Take(now time.Time, tag Tag) (key [32]byte, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, found := t.m[tag]
	if !found {
		return key, false
	}
	delete(t.m, tag)
	if now.After(e.expires) {
		return key, false
	}
	return e.key, true
}

// Has reports whether tag is present, without taking it: the router uses
// it to tell a reply to one of its own requests from a destination's
// garlic before it opens either.
func (t *TagTable) Has(tag Tag) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.m[tag]
	return ok
}

// Remove drops tag if present (a lookup that was answered another way, a
// build that timed out).
func (t *TagTable) Remove(tag Tag) {
	t.mu.Lock()
	delete(t.m, tag)
	t.mu.Unlock()
}

// Expire drops every tag whose expiry is before now and returns how many.
func (t *TagTable) Expire(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for tag, e := range t.m {
		if now.After(e.expires) {
			delete(t.m, tag)
			n++
		}
	}
	return n
}

// Len returns the number of registered tags.
func (t *TagTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
