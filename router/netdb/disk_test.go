package netdb

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"i2pbridge/router/data"
)

// i2pdNetDb is a netDb folder written by i2pd 2.45.1 itself (see its
// README): the layout and file names we must read and write.
const i2pdNetDb = "../data/testdata/i2pd-ri/netDb"

// TestDiskReadsAndWritesI2pdLayout loads i2pd's own netDb folder, writes
// the entries back with our writer, and requires the same relative paths
// and the same bytes: seed folders are interchangeable with i2pd.
func TestDiskReadsAndWritesI2pdLayout(t *testing.T) {
	ris, bad, err := disk{dir: i2pdNetDb}.load()
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 0 || len(ris) != 3 {
		t.Fatalf("loaded %d RouterInfos, bad files %v; want i2pd's 3", len(ris), bad)
	}
	out := t.TempDir()
	d := disk{dir: out}
	for _, ri := range ris {
		if err := d.write(ri); err != nil {
			t.Fatal(err)
		}
	}
	err = filepath.WalkDir(i2pdNetDb, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(i2pdNetDb, path)
		want, _ := os.ReadFile(path)
		got, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil {
			t.Errorf("we did not write %s: %v", rel, err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s differs from i2pd's", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Removing deletes the file; removing again is fine.
	h := ris[0].Hash()
	if err := d.remove(h); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(data.RouterInfoPath(out, h)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
	if err := d.remove(h); err != nil {
		t.Fatal(err)
	}
}

// TestDiskLoadReportsBadFiles: garbage, a file named after another hash
// and a truncated RouterInfo are reported, not loaded; other files in the
// tree are ignored.
func TestDiskLoadReportsBadFiles(t *testing.T) {
	dir := t.TempDir()
	d := disk{dir: dir}
	good := newRouter(t, riOpts{})
	other := newRouter(t, riOpts{})
	if err := d.write(good.ri); err != nil {
		t.Fatal(err)
	}
	write := func(path string, b []byte) {
		t.Helper()
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	misnamed := data.RouterInfoPath(dir, other.hash())
	write(misnamed, good.ri.Bytes())
	truncated := filepath.Join(dir, "rA", "routerInfo-AAAA.dat")
	write(truncated, good.ri.Bytes()[:100])
	write(filepath.Join(dir, "rB", "notes.txt"), []byte("ignored"))
	write(filepath.Join(dir, "profiles.txt"), []byte("ignored"))
	ris, bad, err := d.load()
	if err != nil {
		t.Fatal(err)
	}
	if len(ris) != 1 || ris[0].Hash() != good.hash() {
		t.Fatalf("loaded %v, want only the good one", ris)
	}
	if len(bad) != 2 || !strings.Contains(strings.Join(bad, " "), "AAAA") {
		t.Fatalf("bad = %v, want the misnamed and the truncated file", bad)
	}
	if ris, bad, err := (disk{dir: filepath.Join(dir, "missing")}).load(); err != nil || len(ris)+len(bad) != 0 {
		t.Fatalf("missing dir: %v %v %v", ris, bad, err)
	}
}
