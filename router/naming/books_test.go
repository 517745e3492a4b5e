package naming

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"i2pbridge/router/data"
)

// writeHosts writes name=dest lines to dir/file and returns the path.
func writeHosts(t *testing.T, dir, file string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func line(name string, d data.Destination) string { return name + "=" + d.Base64() }

func TestBooksPrecedence(t *testing.T) {
	dir := t.TempDir()
	dLocal, dRO1, dRO2 := testDest(t, 200), testDest(t, 201), testDest(t, 202)
	local := writeHosts(t, dir, "local.txt", line("shared.i2p", dLocal))
	ro1 := writeHosts(t, dir, "hosts1.txt", line("shared.i2p", dRO1), line("both.i2p", dRO1))
	ro2 := writeHosts(t, dir, "hosts2.txt", line("both.i2p", dRO2), line("only2.i2p", dRO2))
	bs, skipped, err := OpenBooks(local, []string{ro1, ro2})
	if err != nil || len(skipped) != 0 {
		t.Fatalf("OpenBooks: %v, skipped %v", err, skipped)
	}
	tests := []struct {
		name      string
		want      data.Destination
		source    string
		wantLocal bool
	}{
		{"shared.i2p", dLocal, local, true}, // local first
		{"SHARED.I2P", dLocal, local, true}, // case-insensitive
		{"both.i2p", dRO1, ro1, false},      // read-only books in listed order
		{"only2.i2p", dRO2, ro2, false},
	}
	for _, tt := range tests {
		m, ok := bs.Lookup(tt.name)
		if !ok || m.Dest != tt.want || m.Source != tt.source || m.Local != tt.wantLocal {
			t.Errorf("Lookup(%s) = %s from %s local=%v (ok %v); want %s from %s local=%v", tt.name, m.Dest, m.Source, m.Local, ok, tt.want, tt.source, tt.wantLocal)
		}
	}
	if _, ok := bs.Lookup("missing.i2p"); ok {
		t.Error("Lookup(missing.i2p) found something")
	}
}

func TestBooksReverseLookupSkipsShadowedNames(t *testing.T) {
	dir := t.TempDir()
	dLocal, dRO := testDest(t, 210), testDest(t, 211)
	local := writeHosts(t, dir, "local.txt", line("site.i2p", dLocal))
	ro := writeHosts(t, dir, "hosts.txt", line("site.i2p", dRO), line("alias.i2p", dRO))
	bs, _, err := OpenBooks(local, []string{ro})
	if err != nil {
		t.Fatal(err)
	}
	// site.i2p in hosts.txt points at dRO but is shadowed by the local
	// book, so the only name that leads back to dRO is alias.i2p.
	if m, ok := bs.ReverseLookup(dRO.Hash()); !ok || m.Name != "alias.i2p" {
		t.Errorf("ReverseLookup(dRO) = %q, %v; want alias.i2p", m.Name, ok)
	}
	if m, ok := bs.ReverseLookup(dLocal.Hash()); !ok || m.Name != "site.i2p" || !m.Local {
		t.Errorf("ReverseLookup(dLocal) = %+v, %v; want local site.i2p", m, ok)
	}
	if _, ok := bs.ReverseLookup(testDest(t, 212).Hash()); ok {
		t.Error("ReverseLookup of an unknown destination answered")
	}
}

func TestBooksAdd(t *testing.T) {
	dKnown, dOther, dNew := testDest(t, 220), testDest(t, 221), testDest(t, 222)
	tests := []struct {
		name      string
		add       string
		dest      data.Destination
		err       error
		wantSaved bool // the local file holds the name afterwards
	}{
		{"new name is saved", "new.i2p", dNew, nil, true},
		{"conflict with a read-only book", "known.i2p", dOther, ErrConflict, false},
		{"same as read-only book is pinned locally", "known.i2p", dKnown, nil, true},
		{"invalid name", "new.i2p.", dNew, ErrInvalidName, false},
		{"b32 name", dNew.B32(), dNew, ErrReservedName, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			local := filepath.Join(dir, "sub", "local.txt") // parent created below
			if err := os.Mkdir(filepath.Dir(local), 0o700); err != nil {
				t.Fatal(err)
			}
			ro := writeHosts(t, dir, "hosts.txt", line("known.i2p", dKnown))
			bs, _, err := OpenBooks(local, []string{ro})
			if err != nil {
				t.Fatal(err)
			}
			err = bs.Add(tt.add, tt.dest)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("Add error = %v, want %v", err, tt.err)
			}
			reopened, _, err := OpenBooks(local, nil)
			if err != nil {
				t.Fatal(err)
			}
			m, saved := reopened.Lookup(tt.add)
			if saved != tt.wantSaved || (saved && m.Dest != tt.dest) {
				t.Errorf("after reopening, Lookup(%s) = %s, %v; want saved=%v", tt.add, m.Dest, saved, tt.wantSaved)
			}
		})
	}
}

func TestBooksAddConflictNamesSource(t *testing.T) {
	dir := t.TempDir()
	d1, d2 := testDest(t, 230), testDest(t, 231)
	ro := writeHosts(t, dir, "hosts.txt", line("site.i2p", d1))
	bs, _, err := OpenBooks(filepath.Join(dir, "local.txt"), []string{ro})
	if err != nil {
		t.Fatal(err)
	}
	var ce *ConflictError
	if err := bs.Add("Site.i2p", d2); !errors.As(err, &ce) {
		t.Fatalf("Add error = %v, want *ConflictError", err)
	}
	if ce.Name != "site.i2p" || ce.Existing != d1 || ce.New != d2 || ce.Source != ro {
		t.Errorf("ConflictError = %+v", ce)
	}
	if _, err := os.Stat(filepath.Join(dir, "local.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused Add wrote the local book (stat: %v)", err)
	}
}

func TestBooksReplace(t *testing.T) {
	dir := t.TempDir()
	d1, d2, d3 := testDest(t, 240), testDest(t, 241), testDest(t, 242)
	ro := writeHosts(t, dir, "hosts.txt", line("site.i2p", d1))
	local := filepath.Join(dir, "local.txt")
	bs, _, err := OpenBooks(local, []string{ro})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		dest, wantPrev data.Destination
	}{
		{d2, d1}, // overrides the read-only entry
		{d3, d2}, // replaces the local entry
		{d3, d3}, // idempotent
	}
	for i, s := range steps {
		prev, err := bs.Replace("site.i2p", s.dest)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if prev != s.wantPrev {
			t.Errorf("step %d: previous = %s, want %s", i, prev, s.wantPrev)
		}
		if m, _ := bs.Lookup("site.i2p"); m.Dest != s.dest || !m.Local {
			t.Errorf("step %d: Lookup = %+v, want local %s", i, m, s.dest)
		}
	}
	reopened, _, err := OpenBooks(local, []string{ro})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := reopened.Lookup("site.i2p"); m.Dest != d3 {
		t.Errorf("after reopening, site.i2p = %s, want %s", m.Dest, d3)
	}
	if prev, err := bs.Replace("new.i2p", d1); err != nil || !prev.IsZero() {
		t.Errorf("Replace of an unknown name = %s, %v; want zero previous", prev, err)
	}
}

func TestBooksSaveIsAtomicAndPrivate(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "local.txt")
	bs, _, err := OpenBooks(local, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := bs.Add("h"+string(rune('a'+i))+".i2p", testDest(t, 250+i)); err != nil {
			t.Fatal(err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "local.txt" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only local.txt (no temporary files left)", names)
	}
	fi, err := os.Stat(local)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("local book mode = %v, want 0600", fi.Mode().Perm())
	}
	content, _ := os.ReadFile(local)
	if !strings.HasPrefix(string(content), localHeader) {
		t.Errorf("local book does not start with its header:\n%.200s", content)
	}
}

// A failed save leaves memory as it was: the book never answers with a
// mapping that is not on disk.
func TestBooksFailedSaveRollsBack(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "data")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(sub, "local.txt")
	d1, d2 := testDest(t, 260), testDest(t, 261)
	bs, _, err := OpenBooks(local, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Add("kept.i2p", d1); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(sub); err != nil { // the save can no longer create its temp file
		t.Fatal(err)
	}
	if err := bs.Add("lost.i2p", d2); err == nil {
		t.Fatal("Add succeeded without a directory to save in")
	}
	if _, ok := bs.Lookup("lost.i2p"); ok {
		t.Error("failed Add left lost.i2p in memory")
	}
	if _, err := bs.Replace("kept.i2p", d2); err == nil {
		t.Fatal("Replace succeeded without a directory to save in")
	}
	if m, _ := bs.Lookup("kept.i2p"); m.Dest != d1 {
		t.Errorf("failed Replace changed kept.i2p to %s", m.Dest)
	}
}

func TestOpenBooks(t *testing.T) {
	d := testDest(t, 270)
	tests := []struct {
		name        string
		local       func(dir string) string
		readOnly    func(dir string) []string
		err         error
		wantSkipped []string // "file:line" suffixes
	}{
		{
			name:  "missing local book is empty",
			local: func(dir string) string { return filepath.Join(dir, "none.txt") },
		},
		{
			name:     "missing read-only book is an error",
			local:    func(string) string { return "" },
			readOnly: func(dir string) []string { return []string{filepath.Join(dir, "none.txt")} },
			err:      fs.ErrNotExist,
		},
		{
			name: "malformed local line is an error",
			local: func(dir string) string {
				return writeHosts(t, dir, "local.txt", line("ok.i2p", d), "garbage")
			},
			err: ErrSyntax,
		},
		{
			name:  "malformed read-only lines are skipped and reported",
			local: func(string) string { return "" },
			readOnly: func(dir string) []string {
				return []string{writeHosts(t, dir, "hosts.txt", "# c", "garbage", line("ok.i2p", d), "bad_name.i2p="+d.Base64())}
			},
			wantSkipped: []string{"hosts.txt:2", "hosts.txt:4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var ro []string
			if tt.readOnly != nil {
				ro = tt.readOnly(dir)
			}
			bs, skipped, err := OpenBooks(tt.local(dir), ro)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("OpenBooks error = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if len(skipped) != len(tt.wantSkipped) {
				t.Fatalf("skipped = %v, want %v", skipped, tt.wantSkipped)
			}
			for i, w := range tt.wantSkipped {
				if !strings.Contains(skipped[i].Error(), w) {
					t.Errorf("skipped[%d] = %v, want it to name %s", i, skipped[i], w)
				}
			}
			if bs == nil {
				t.Fatal("nil Books without an error")
			}
		})
	}
}

func TestBooksWithoutLocalBook(t *testing.T) {
	bs, _, err := OpenBooks("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Add("a.i2p", testDest(t, 280)); !errors.Is(err, ErrNoLocalBook) {
		t.Errorf("Add error = %v, want ErrNoLocalBook", err)
	}
	if _, err := bs.Replace("a.i2p", testDest(t, 280)); !errors.Is(err, ErrNoLocalBook) {
		t.Errorf("Replace error = %v, want ErrNoLocalBook", err)
	}
}

// Lookups run while Add saves; run with -race.
func TestBooksConcurrentLookupAndAdd(t *testing.T) {
	dir := t.TempDir()
	bs, _, err := OpenBooks(filepath.Join(dir, "local.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dests := make([]data.Destination, 20)
	for i := range dests {
		dests[i] = testDest(t, 300+i)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(dests); i += 4 {
				name := "h" + string(rune('a'+i)) + ".i2p"
				if err := bs.Add(name, dests[i]); err != nil {
					t.Errorf("Add(%s): %v", name, err)
				}
				if m, ok := bs.Lookup(name); !ok || m.Dest != dests[i] {
					t.Errorf("Lookup(%s) after Add = %s, %v", name, m.Dest, ok)
				}
				bs.ReverseLookup(dests[(i+1)%len(dests)].Hash())
			}
		})
	}
	wg.Wait()
	reopened, _, err := OpenBooks(filepath.Join(dir, "local.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := reopened.local.Len(); n != len(dests) {
		t.Errorf("saved book has %d entries, want %d", n, len(dests))
	}
}
