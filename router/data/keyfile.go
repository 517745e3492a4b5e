package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// keyFileMode keeps private keys readable by the owner only.
const keyFileMode fs.FileMode = 0o600

// maxKeyFileSize bounds what LoadPrivateKeyFile reads; real files are under
// 1 KiB (an RSA-4096 identity would still fit).
const maxKeyFileSize = 64 << 10

// LoadPrivateKeyFile reads and parses a private key file written by this
// package, i2pd or Java I2P. Errors name the path.
func LoadPrivateKeyFile(path string) (PrivateKeys, error) {
	f, err := os.Open(path)
	if err != nil {
		return PrivateKeys{}, fmt.Errorf("data: load key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return PrivateKeys{}, fmt.Errorf("data: load key file %s: %w", path, err)
	}
	if len(b) > maxKeyFileSize {
		return PrivateKeys{}, fmt.Errorf("data: load key file %s: %w: larger than %d bytes", path, ErrTrailingBytes, maxKeyFileSize)
	}
	k, err := ParsePrivateKeys(b)
	if err != nil {
		// SAM hands out private keys as base64 text, and people save that
		// text where a binary file belongs; say so instead of reporting a
		// nonsensical certificate.
		if _, err2 := ParsePrivateKeysBase64(string(bytes.TrimSpace(b))); err2 == nil {
			return PrivateKeys{}, fmt.Errorf("data: load key file %s: %w", path, ErrTextKeyFile)
		}
		return PrivateKeys{}, fmt.Errorf("data: load key file %s: %w", path, err)
	}
	return k, nil
}

// WritePrivateKeyFile writes k to path atomically: a temporary file in the
// same directory (created 0600, so never readable by others), fsync,
// rename over path, fsync of the directory. An existing file is replaced.
func WritePrivateKeyFile(path string, k PrivateKeys) error {
	return writeKeyFile(path, k, false)
}

// LoadOrCreatePrivateKeyFile loads path, or when it does not exist
// generates new keys from rand and writes them. created tells which
// happened. If another process creates the file at the same moment, its
// keys win and are returned, so two starters never end up with different
// identities.
func LoadOrCreatePrivateKeyFile(path string, rand io.Reader) (k PrivateKeys, created bool, err error) {
	k, err = LoadPrivateKeyFile(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return PrivateKeys{}, false, err
	}
	k, err = GeneratePrivateKeys(rand)
	if err != nil {
		return PrivateKeys{}, false, fmt.Errorf("data: create key file %s: %w", path, err)
	}
	if err := writeKeyFile(path, k, true); err != nil {
		if errors.Is(err, fs.ErrExist) {
			k, err = LoadPrivateKeyFile(path)
			return k, false, err
		}
		return PrivateKeys{}, false, err
	}
	return k, true, nil
}

// writeKeyFile writes through a temporary file. With noClobber the temp file
// is hard-linked to path, which fails if path exists, instead of renamed
// over it; filesystems without hard links fall back to rename.
func writeKeyFile(path string, k PrivateKeys, noClobber bool) (err error) {
	b, err := k.Append(nil)
	if err != nil {
		return fmt.Errorf("data: write key file %s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// os.CreateTemp creates the file with mode 0600 before any byte is
	// written.
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("data: write key file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		os.Remove(tmpName) // after a rename this is a harmless ErrNotExist
	}()
	if err := tmp.Chmod(keyFileMode); err != nil {
		return fmt.Errorf("data: write key file: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("data: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("data: write key file: %w", err)
	}
	err = tmp.Close()
	tmp = nil
	if err != nil {
		return fmt.Errorf("data: write key file: %w", err)
	}
	if noClobber {
		err = os.Link(tmpName, path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			err = os.Rename(tmpName, path)
		}
	} else {
		err = os.Rename(tmpName, path)
	}
	if err != nil {
		return fmt.Errorf("data: write key file: %w", err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes the rename durable. Some filesystems refuse to fsync a
// directory; the file itself is already synced, so that is not an error.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}
