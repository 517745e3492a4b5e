package netdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"i2pbridge/router/data"
)

// disk is a netDb directory in i2pd's layout (NetDb.cpp m_Storage:
// "netDb", "r", "routerInfo-", "dat"):
//
//	netDb/r<first base64 character of the hash>/routerInfo-<base64 hash>.dat
//
// so that a directory written by one router can seed the other. Files hold
// the RouterInfo bytes exactly as signed. Only the DB's owner goroutine
// uses it.
type disk struct {
	dir string // "" keeps nothing on disk
}

// write stores ri atomically (temporary file, rename), so that a reader
// (i2pd started on a copy, a crash) never sees half a RouterInfo.
func (d disk) write(ri data.RouterInfo) error {
	if d.dir == "" {
		return nil
	}
	path := data.RouterInfoPath(d.dir, ri.Hash())
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("netdb: store %s: %w", ri.Hash().Short(), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-routerInfo-*")
	if err != nil {
		return fmt.Errorf("netdb: store %s: %w", ri.Hash().Short(), err)
	}
	_, err = tmp.Write(ri.Bytes())
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644) // public data, as i2pd leaves it
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("netdb: store %s: %w", ri.Hash().Short(), err)
	}
	return nil
}

// remove deletes h's file, if any.
func (d disk) remove(h data.Hash) error {
	if d.dir == "" {
		return nil
	}
	err := os.Remove(data.RouterInfoPath(d.dir, h))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("netdb: delete %s: %w", h.Short(), err)
	}
	return nil
}

// load reads every routerInfo-*.dat under the directory. Files that do not
// parse, do not verify or are not named after their content's hash are
// returned in bad; the caller deletes them, as i2pd does ("RI from … is
// invalid or too old. Delete").
func (d disk) load() (ris []data.RouterInfo, bad []string, err error) {
	if d.dir == "" {
		return nil, nil, nil
	}
	entries, err := os.ReadDir(d.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("netdb: load %s: %w", d.dir, err)
	}
	for _, sub := range entries {
		if !sub.IsDir() || !strings.HasPrefix(sub.Name(), "r") {
			continue
		}
		files, err := os.ReadDir(filepath.Join(d.dir, sub.Name()))
		if err != nil {
			return nil, nil, fmt.Errorf("netdb: load %s: %w", d.dir, err)
		}
		for _, f := range files {
			name := f.Name()
			if !f.Type().IsRegular() || !strings.HasPrefix(name, "routerInfo-") || !strings.HasSuffix(name, ".dat") {
				continue
			}
			path := filepath.Join(d.dir, sub.Name(), name)
			ri, err := readRouterInfoFile(path)
			if err == nil {
				if h, nerr := data.ParseRouterInfoFileName(name); nerr != nil || h != ri.Hash() || path != data.RouterInfoPath(d.dir, h) {
					err = fmt.Errorf("%w: %s holds %s", ErrInvalid, name, ri.Hash().Short())
				}
			}
			if err != nil {
				bad = append(bad, path)
				continue
			}
			ris = append(ris, ri)
		}
	}
	return ris, bad, nil
}

// readRouterInfoFile reads and verifies one RouterInfo file.
func readRouterInfoFile(path string) (data.RouterInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return data.RouterInfo{}, fmt.Errorf("netdb: %w", err)
	}
	ri, err := ParseRouterInfo(b)
	if err != nil {
		return data.RouterInfo{}, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return ri, nil
}
