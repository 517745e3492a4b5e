package naming

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"i2pbridge/router/data"
)

// ErrNoLocalBook reports a change requested from Books opened without a
// local book.
var ErrNoLocalBook = errors.New("naming: no writable local address book")

// ConflictError is returned when a name would be bound to a destination
// while it already resolves to another one. errors.Is(err, ErrConflict)
// holds for it.
type ConflictError struct {
	Name string
	// Existing is what Name resolves to now, New what was asked for.
	Existing, New data.Destination
	// Source is the book holding Existing (its file path; "" for a Book
	// that was not loaded from a file).
	Source string
}

func (e *ConflictError) Error() string {
	src := ""
	if e.Source != "" {
		src = " (in " + e.Source + ")"
	}
	return fmt.Sprintf("naming: %s already maps to %s%s, not %s", e.Name, e.Existing.B32(), src, e.New.B32())
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// Match is the answer of a Books lookup.
type Match struct {
	Entry
	// Source is the path of the book file that holds the entry.
	Source string
	// Local is true when the entry is in the writable local book.
	Local bool
}

// layer is one book of a Books stack.
type layer struct {
	path  string
	book  *Book
	local bool
}

// Books is the layered address book: the local book first, then the
// read-only books in their configured order; the first layer holding a
// name answers (see the package documentation for why the local book comes
// first). Lookups are safe for concurrent use with each other and with
// Add and Replace.
type Books struct {
	// layers never changes after OpenBooks; only the local Book's content
	// does.
	layers []layer
	local  *Book
	path   string // of the local book, "" if none
	// mu serializes changes to the local book and its file.
	mu sync.Mutex
}

// OpenBooks loads the books. localPath is the writable local book; it may
// be missing (it is created on the first change) and "" means "none" (Add
// and Replace then fail with ErrNoLocalBook). readOnly are hosts.txt files
// used as they are, in precedence order; each must exist, because a listed
// file that is silently absent would turn into unexplained "unknown host"
// errors.
//
// Malformed lines in read-only books are skipped and returned in skipped,
// each with its path and line number. Any malformed line in the local book
// fails OpenBooks (see the package documentation).
func OpenBooks(localPath string, readOnly []string) (bs *Books, skipped []*LineError, err error) {
	bs = &Books{path: localPath}
	if localPath != "" {
		local, bad, err := readBookFile(localPath, true)
		if err != nil {
			return nil, nil, err
		}
		if len(bad) > 0 {
			errs := make([]error, 0, len(bad))
			for _, le := range bad {
				errs = append(errs, le)
			}
			return nil, nil, fmt.Errorf("naming: local address book %s has %d unusable line(s); fix them, it is rewritten on every change: %w", localPath, len(bad), errors.Join(errs...))
		}
		bs.local = local
		bs.layers = append(bs.layers, layer{path: localPath, book: local, local: true})
	}
	for _, p := range readOnly {
		b, bad, err := readBookFile(p, false)
		if err != nil {
			return nil, nil, err
		}
		skipped = append(skipped, bad...)
		bs.layers = append(bs.layers, layer{path: p, book: b})
	}
	return bs, skipped, nil
}

// readBookFile reads one hosts.txt file; a missing file is an empty book
// when missingOK.
func readBookFile(path string, missingOK bool) (*Book, []*LineError, error) {
	f, err := os.Open(path)
	if err != nil {
		if missingOK && errors.Is(err, os.ErrNotExist) {
			return NewBook(), nil, nil
		}
		return nil, nil, fmt.Errorf("naming: open address book: %w", err)
	}
	defer f.Close()
	b, bad, err := ReadBook(f)
	if err != nil {
		return nil, nil, fmt.Errorf("naming: %s: %w", path, err)
	}
	for _, le := range bad {
		le.Path = path
	}
	return b, bad, nil
}

// Lookup resolves name through the layers, local book first.
func (bs *Books) Lookup(name string) (Match, bool) {
	for _, l := range bs.layers {
		if e, ok := l.book.Lookup(name); ok {
			return Match{Entry: e, Source: l.path, Local: l.local}, true
		}
	}
	return Match{}, false
}

// ReverseLookup returns a name that resolves (through Lookup) to the
// destination with hash h. A name whose entry is shadowed by an earlier
// layer with another destination is not an answer: it would not lead back
// to h.
func (bs *Books) ReverseLookup(h data.Hash) (Match, bool) {
	for _, l := range bs.layers {
		for _, name := range l.book.NamesFor(h) {
			if m, ok := bs.Lookup(name); ok && m.Dest.Hash() == h {
				return m, true
			}
		}
	}
	return Match{}, false
}

// Add binds name to dest in the local book and saves it. When name already
// resolves to another destination (in any layer) Add fails with a
// *ConflictError carrying both and changes nothing: names are first come,
// first served, and the caller must ask the user and then use Replace.
// When name already resolves to dest the mapping is still recorded in the
// local book if it is only in a read-only one, so the user's acceptance
// survives a later change of that file.
func (bs *Books) Add(name string, dest data.Destination) error {
	if bs.local == nil {
		return ErrNoLocalBook
	}
	e, err := validEntry(name, dest)
	if err != nil {
		return err
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if m, ok := bs.Lookup(e.Name); ok {
		if m.Dest != dest {
			return &ConflictError{Name: e.Name, Existing: m.Dest, New: dest, Source: m.Source}
		}
		if m.Local {
			return nil
		}
	}
	bs.local.put(e)
	if err := bs.saveLocked(); err != nil {
		bs.local.remove(e.Name)
		return err
	}
	return nil
}

// Replace binds name to dest in the local book whatever it resolved to
// before, and saves it; it is the explicit override after a conflict was
// shown to the user. Because the local book is searched first, the new
// entry shadows read-only ones. It returns the destination name resolved to
// before (the zero Destination if none).
func (bs *Books) Replace(name string, dest data.Destination) (previous data.Destination, err error) {
	if bs.local == nil {
		return data.Destination{}, ErrNoLocalBook
	}
	e, err := validEntry(name, dest)
	if err != nil {
		return data.Destination{}, err
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if m, ok := bs.Lookup(e.Name); ok {
		previous = m.Dest
	}
	oldLocal, hadLocal := bs.local.Lookup(e.Name)
	bs.local.put(e)
	if err := bs.saveLocked(); err != nil {
		if hadLocal {
			bs.local.put(oldLocal)
		} else {
			bs.local.remove(e.Name)
		}
		return data.Destination{}, err
	}
	return previous, nil
}

// localHeader starts the saved local book; it tells a reader that the file
// is rewritten by the program.
const localHeader = "# i2pbridge local address book: name=base64 destination, one per line.\n" +
	"# Rewritten on every change; comments are not kept.\n"

// saveLocked writes the local book atomically: a temporary file in the same
// directory, synced, then renamed over the old one, so a crash leaves
// either the old or the new book, never a torn one. The mode is 0600:
// the local book records which sites the user chose to visit.
func (bs *Books) saveLocked() error {
	var buf bytes.Buffer
	buf.WriteString(localHeader)
	if _, err := bs.local.WriteTo(&buf); err != nil {
		return err
	}
	return writeFileAtomic(bs.path, buf.Bytes(), 0o600)
}

// writeFileAtomic replaces path with content (temp file + fsync + rename).
func writeFileAtomic(path string, content []byte, mode os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("naming: save %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("naming: save %s: %w", path, err)
	}
	if _, err = io.Copy(tmp, bytes.NewReader(content)); err != nil {
		return fmt.Errorf("naming: save %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("naming: save %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("naming: save %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("naming: save %s: %w", path, err)
	}
	// Make the rename itself durable. Some file systems refuse to sync a
	// directory; the data is already safe in the file, so that is not an
	// error worth failing the change for.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
