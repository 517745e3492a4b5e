package data

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// withUmask runs f with the process umask set to mask. Not parallel-safe:
// tests using it must not call t.Parallel.
func withUmask(mask int, f func()) {
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	f()
}

func TestWritePrivateKeyFileIsOwnerOnly(t *testing.T) {
	for _, tt := range []struct {
		name     string
		existing os.FileMode // 0 = no existing file
	}{
		{"new file", 0},
		{"replaces world-readable file", 0o644},
		{"replaces world-writable file", 0o666},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "keys.dat")
			if tt.existing != 0 {
				if err := os.WriteFile(path, []byte("old"), tt.existing); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			k := mustGenerate(t)
			var err error
			// A permissive umask must not widen the file's mode.
			withUmask(0, func() { err = WritePrivateKeyFile(path, k) })
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
			}
			got, err := LoadPrivateKeyFile(path)
			if err != nil || got != k {
				t.Fatalf("LoadPrivateKeyFile = %v, %v", got, err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Fatalf("directory holds %d entries (temp file left behind?)", len(entries))
			}
		})
	}
}

func TestWritePrivateKeyFileErrors(t *testing.T) {
	k := mustGenerate(t)
	if err := WritePrivateKeyFile(filepath.Join(t.TempDir(), "missing", "keys.dat"), k); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("write into missing dir = %v, want ErrNotExist", err)
	}
	if err := WritePrivateKeyFile(filepath.Join(t.TempDir(), "keys.dat"), PrivateKeys{}); err == nil {
		t.Fatal("wrote zero PrivateKeys")
	}
}

func TestLoadPrivateKeyFileErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	good := mustGenerate(t).Bytes()
	tests := []struct {
		name    string
		content []byte // nil = do not create
		wantErr error
	}{
		{"missing", nil, fs.ErrNotExist},
		{"empty", []byte{}, ErrTruncated},
		{"truncated", good[:400], ErrTruncated},
		{"trailing newline", append(append([]byte(nil), good...), '\n'), ErrTrailingBytes},
		{"base64 text instead of binary", []byte(Base64Encode(good) + "\n"), ErrTextKeyFile},
		{"garbage", []byte(strings.Repeat("garbage!", 100)), ErrTruncated},
		{"huge", make([]byte, maxKeyFileSize+1), ErrTrailingBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".dat")
			if tt.content != nil {
				if err := os.WriteFile(path, tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadPrivateKeyFile(path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("LoadPrivateKeyFile = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name %s", err, path)
			}
		})
	}
}

func TestLoadOrCreatePrivateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dest.dat")
	k1, created, err := LoadOrCreatePrivateKeyFile(path, cryptoRand{})
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat = %v, %v; want mode 0600", fi, err)
	}
	k2, created, err := LoadOrCreatePrivateKeyFile(path, cryptoRand{})
	if err != nil || created || k2 != k1 {
		t.Fatalf("second call: created=%v err=%v same=%v", created, err, k2 == k1)
	}
}

func TestLoadOrCreateNeverOverwritesABadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dest.dat")
	if err := os.WriteFile(path, []byte("corrupt"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, created, err := LoadOrCreatePrivateKeyFile(path, cryptoRand{})
	if err == nil || created {
		t.Fatalf("created=%v err=%v; want an error", created, err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "corrupt" {
		t.Fatalf("file was changed: %q, %v", b, err)
	}
}

func TestLoadOrCreateRacersAgreeOnOneIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dest.dat")
	const n = 8
	var wg sync.WaitGroup
	keys := make([]PrivateKeys, n)
	errs := make([]error, n)
	created := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			keys[i], created[i], errs[i] = LoadOrCreatePrivateKeyFile(path, cryptoRand{})
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		if keys[i] != keys[0] {
			t.Fatalf("racer %d got %s, racer 0 got %s", i, keys[i], keys[0])
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Fatalf("%d racers report creating the file, want 1", creators)
	}
}
