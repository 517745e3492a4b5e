package testnet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/http"
	"time"
)

// The eepsite: an index page and one large deterministic file, so a test
// can check a download byte for byte without shipping or storing it.
const (
	// IndexMarker appears in the index page; waits look for it.
	IndexMarker = "i2pbridge testnet eepsite"
	// BigPath is the large file's URL path.
	BigPath = "/big.bin"
	// BigSize is its length: 20 MiB.
	BigSize = 20 << 20
)

// BigFile returns the large file's contents: SHA-256 in counter mode over
// a fixed label, so every process generates the same bytes.
func BigFile() []byte {
	out := make([]byte, 0, BigSize)
	var ctr [8]byte
	for i := uint64(0); len(out) < BigSize; i++ {
		binary.BigEndian.PutUint64(ctr[:], i)
		sum := sha256.Sum256(append([]byte("i2pbridge testnet big file\x00"), ctr[:]...))
		out = append(out, sum[:]...)
	}
	return out[:BigSize]
}

// EepsiteHandler serves the index page and BigPath (with Range support,
// so a client may resume). big is BigFile(), generated once by the caller.
func EepsiteHandler(big []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><p><a href=%q>%d MiB test file</a></p>\n",
			IndexMarker, IndexMarker, BigPath, BigSize>>20)
	})
	mux.HandleFunc("GET "+BigPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "big.bin", time.Time{}, bytes.NewReader(big))
	})
	return mux
}
