package router

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"i2pbridge/router/data"
	"i2pbridge/router/ntcp2"
)

// File names in the data directory, the same as i2pd's so that a datadir
// can be moved between the two (i2pd RouterContext.h ROUTER_INFO,
// ROUTER_KEYS, NTCP2_KEYS).
const (
	RouterKeysFile = "router.keys"
	NTCP2KeysFile  = "ntcp2.keys"
	RouterInfoFile = "router.info"
	NetDbDir       = "netDb"
)

// loadOrCreateRouterKeys reads router.keys, or creates it (0600) with a
// new X25519 + Ed25519 identity; the private key file layout is exactly a
// router identity's (data.GenerateRouterKeys).
func loadOrCreateRouterKeys(dir string) (data.RouterKeys, bool, error) {
	path := filepath.Join(dir, RouterKeysFile)
	pk, created, err := data.LoadOrCreatePrivateKeyFile(path, rand.Reader)
	if err != nil {
		return data.RouterKeys{}, false, fmt.Errorf("router: %s: %w", path, err)
	}
	k, err := data.NewRouterKeys(pk)
	if err != nil {
		return data.RouterKeys{}, false, fmt.Errorf("router: %s: %w", path, err)
	}
	return k, created, nil
}

// loadOrCreateStaticKey reads ntcp2.keys (i2pd's 80-byte layout), or
// creates it (0600). The key and IV are published in our NTCP2 address and
// must survive restarts (ntcp2.rst §"Public Key and IV Rotation").
func loadOrCreateStaticKey(dir string) (ntcp2.StaticKey, error) {
	path := filepath.Join(dir, NTCP2KeysFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := ntcp2.ParseStaticKey(b)
		if err != nil {
			return ntcp2.StaticKey{}, fmt.Errorf("router: %s: %w", path, err)
		}
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return ntcp2.StaticKey{}, fmt.Errorf("router: %w", err)
	}
	k, err := ntcp2.GenerateStaticKey(nil)
	if err != nil {
		return ntcp2.StaticKey{}, fmt.Errorf("router: new NTCP2 key: %w", err)
	}
	b, err = k.Append(nil)
	if err != nil {
		return ntcp2.StaticKey{}, fmt.Errorf("router: %w", err)
	}
	if err := writeFileAtomic(path, b, 0o600); err != nil {
		return ntcp2.StaticKey{}, err
	}
	return k, nil
}

// writeFileAtomic writes a temporary file in the same directory with perm
// and renames it over path, so a reader never sees a partial file.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("router: write %s: %w", path, err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("router: write %s: %w", path, err)
	}
	return nil
}
