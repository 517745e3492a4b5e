package httpproxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet/i2pnettest"
)

const bigSize = 20 << 20 // 20 MiB

// bigData is a deterministic pseudo-random stream of n bytes.
func bigData(n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{'i', '2', 'p'}), n)
}

func sha256Of(t *testing.T, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestStreamsLargeDownload: 20 MiB arrive byte-identical, and the first
// part reaches the browser while the site has not sent the rest yet, so
// nothing on the way holds the whole body.
func TestStreamsLargeDownload(t *testing.T) {
	n := i2pnettest.New()
	proceed := make(chan struct{})
	site := newEepsite(t, n, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(bigSize))
		w.Header().Set("Content-Type", "application/octet-stream")
		src := bigData(bigSize)
		if _, err := io.CopyN(w, src, 1<<20); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-proceed:
		case <-time.After(20 * time.Second):
			return // the browser never saw the first MiB: not streamed
		}
		io.Copy(w, src)
	}))
	e := newEnv(t, n)
	resp, err := e.client().Get("http://" + site.b32() + "/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != bigSize {
		t.Fatalf("status %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("first MiB: %v", err)
	}
	close(proceed)
	got := sha256Of(t, io.MultiReader(bytes.NewReader(first), resp.Body))
	if want := sha256Of(t, bigData(bigSize)); got != want {
		t.Errorf("download differs: sha256 %s, want %s", got, want)
	}
}

// TestStreamsLargeUpload: a 20 MiB request body arrives byte-identical,
// and the site reads its start before the browser has sent the rest.
func TestStreamsLargeUpload(t *testing.T) {
	n := i2pnettest.New()
	gotFirst := make(chan struct{})
	site := newEepsite(t, n, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := make([]byte, 1<<20)
		if _, err := io.ReadFull(r.Body, first); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		close(gotFirst)
		h := sha256.New()
		h.Write(first)
		io.Copy(h, r.Body)
		io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
	}))
	e := newEnv(t, n)
	pr, pw := io.Pipe()
	go func() {
		src := bigData(bigSize)
		if _, err := io.CopyN(pw, src, 1<<20); err != nil {
			pw.CloseWithError(err)
			return
		}
		select {
		case <-gotFirst:
		case <-time.After(20 * time.Second):
			pw.CloseWithError(io.ErrUnexpectedEOF) // the upload was held back
			return
		}
		_, err := io.Copy(pw, src)
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest(http.MethodPost, "http://"+site.b32()+"/upload", pr)
	req.ContentLength = bigSize
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := sha256Of(t, bigData(bigSize)); resp.StatusCode != http.StatusOK || string(body) != want {
		t.Errorf("status %d, site hashed %s, want %s", resp.StatusCode, body, want)
	}
}

// TestStreamsKeepAliveToBrowser: several requests reuse one browser
// connection.
func TestStreamsKeepAliveToBrowser(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	e := newEnv(t, n)
	c := rawConn(t, e.addr)
	for i := range 3 {
		io.WriteString(c.c, "GET http://"+site.b32()+"/k"+strconv.Itoa(i)+" HTTP/1.1\r\nHost: "+site.b32()+"\r\n\r\n")
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("request %d on the same connection: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello from /k"+strconv.Itoa(i) {
			t.Fatalf("request %d: %q", i, b)
		}
	}
}
