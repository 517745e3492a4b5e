package naming

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"sync"

	"i2pbridge/router/data"
)

// Book is one address book: names → destinations, with a reverse index by
// destination hash. It is safe for concurrent use.
type Book struct {
	mu     sync.RWMutex
	byName map[string]Entry
	// byHash lists the names of each destination in the order they were
	// added, so reverse lookups are deterministic (the file's first name
	// for a destination wins, as for forward lookups).
	byHash map[data.Hash][]string
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{byName: map[string]Entry{}, byHash: map[data.Hash][]string{}}
}

// Lookup returns the entry for name. The name is lower-cased first;
// otherwise lookups do not enforce the naming rules (naming.html), an
// invalid name simply is not found.
func (b *Book) Lookup(name string) (Entry, bool) {
	n := asciiLower(name)
	b.mu.RLock()
	defer b.mu.RUnlock()
	e, ok := b.byName[n]
	return e, ok
}

// ReverseLookup returns the first name added for the destination with hash
// h.
func (b *Book) ReverseLookup(h data.Hash) (string, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	names := b.byHash[h]
	if len(names) == 0 {
		return "", false
	}
	return names[0], true
}

// NamesFor returns every name of the destination with hash h, in the order
// they were added.
func (b *Book) NamesFor(h data.Hash) []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return slices.Clone(b.byHash[h])
}

// Len returns the number of entries.
func (b *Book) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.byName)
}

// Entries returns all entries sorted by name.
func (b *Book) Entries() []Entry {
	b.mu.RLock()
	out := make([]Entry, 0, len(b.byName))
	for _, e := range b.byName {
		out = append(out, e)
	}
	b.mu.RUnlock()
	slices.SortFunc(out, func(x, y Entry) int { return cmp.Compare(x.Name, y.Name) })
	return out
}

// Add adds an entry after validating its name. Adding a name that is
// already present with the same destination does nothing; with a different
// destination it fails with a *ConflictError and the book is unchanged.
func (b *Book) Add(name string, dest data.Destination) error {
	e, err := validEntry(name, dest)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.byName[e.Name]; ok {
		if old.Dest == dest {
			return nil
		}
		return &ConflictError{Name: e.Name, Existing: old.Dest, New: dest}
	}
	b.putLocked(e)
	return nil
}

// validEntry normalizes name and checks that dest is set.
func validEntry(name string, dest data.Destination) (Entry, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return Entry{}, err
	}
	if dest.IsZero() {
		return Entry{}, fmt.Errorf("%w: %s: empty destination", ErrInvalidDestination, n)
	}
	return Entry{Name: n, Dest: dest}, nil
}

// put stores a validated entry, replacing any entry with the same name.
func (b *Book) put(e Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.putLocked(e)
}

func (b *Book) putLocked(e Entry) {
	if old, ok := b.byName[e.Name]; ok {
		b.dropHashLocked(old)
	}
	b.byName[e.Name] = e
	h := e.Dest.Hash()
	b.byHash[h] = append(b.byHash[h], e.Name)
}

// remove deletes name (a no-op when absent).
func (b *Book) remove(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.byName[name]; ok {
		b.dropHashLocked(old)
		delete(b.byName, name)
	}
}

func (b *Book) dropHashLocked(old Entry) {
	h := old.Dest.Hash()
	names := slices.DeleteFunc(b.byHash[h], func(n string) bool { return n == old.Name })
	if len(names) == 0 {
		delete(b.byHash, h)
	} else {
		b.byHash[h] = names
	}
}

// WriteTo writes the book in hosts.txt format, sorted by name, with
// extension fields. Reading the output back yields an equal book.
func (b *Book) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriter(cw)
	line := make([]byte, 0, 1024)
	for _, e := range b.Entries() {
		line = AppendEntry(line[:0], e)
		if _, err := bw.Write(line); err != nil {
			return cw.n, fmt.Errorf("naming: write book: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("naming: write book: %w", err)
	}
	return cw.n, nil
}

// countingWriter counts the bytes that reached w, which is what WriteTo
// must report (bytes still in the bufio.Writer do not count).
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
