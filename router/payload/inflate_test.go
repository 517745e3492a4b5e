package payload

import (
	"bytes"
	"compress/flate"
	"errors"
	"testing"
)

// sentinels are the errors a caller can tell apart.
var sentinels = []error{ErrTruncated, ErrNotGzip, ErrMalformed, ErrChecksum, ErrLengthMismatch, ErrTooLarge, ErrTrailingBytes, ErrInvalid}

func sentinel(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// FuzzInflatePathsAgree holds the stored-block shortcut to compress/flate:
// whenever the shortcut decides, flate must decide the same way (same
// data, same length used, same kind of error).
func FuzzInflatePathsAgree(f *testing.F) {
	f.Add([]byte{0x01, 0x05, 0x00, 0xfa, 0xff, 'h', 'e', 'l', 'l', 'o'}, uint16(100))
	f.Add([]byte{0x01, 0x05, 0x00, 0xfa, 0xff, 'h', 'e', 'l', 'l', 'o'}, uint16(4))
	f.Add([]byte{0x00, 0x01, 0x00, 0xfe, 0xff, 'a', 0xf9, 0x00, 0x00, 0xff, 0xff}, uint16(10))
	f.Add([]byte{0x00, 0x01, 0x00, 0xfe, 0xff, 'a', 0x01, 0x00, 0x00, 0xff, 0xff, 0xee}, uint16(10))
	f.Add([]byte{0x01, 0x05, 0x00, 0xfb, 0xff, 'h'}, uint16(10))
	f.Add([]byte{0x00, 0x03, 0x00, 0xfc, 0xff, 'a', 'b'}, uint16(1))
	f.Add([]byte{0x00, 0x01, 0x00, 0xfe, 0xff, 'a', 0x03, 0x00}, uint16(10))
	f.Fuzz(func(t *testing.T, d []byte, limit uint16) {
		out, n, ok, err := inflateStored(d, int(limit))
		if !ok {
			return
		}
		fout, fn, ferr := inflateFlate(d, int(limit), 0)
		if sentinel(err) != sentinel(ferr) {
			t.Fatalf("stored path: %v; flate: %v", err, ferr)
		}
		if err == nil && (n != fn || !bytes.Equal(out, fout)) {
			t.Fatalf("stored path used %d bytes for %x; flate used %d for %x", n, out, fn, fout)
		}
	})
}

// TestInflatePathsAgreeOnLargeStored covers multi-block stored streams,
// which the fuzzer rarely builds.
func TestInflatePathsAgreeOnLargeStored(t *testing.T) {
	data := bytes.Repeat([]byte("xyz"), 50000)
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.NoCompression)
	w.Write(data)
	w.Close()
	d := buf.Bytes()
	for _, limit := range []int{len(data), len(data) - 1, 65535, 100} {
		for _, cut := range []int{len(d), len(d) - 1, 65540, 65539, 70000, 3} {
			out, n, ok, err := inflateStored(d[:cut], limit)
			if !ok {
				t.Fatal("stored stream not taken by the stored path")
			}
			fout, fn, ferr := inflateFlate(d[:cut], limit, 0)
			if sentinel(err) != sentinel(ferr) || n != fn || !bytes.Equal(out, fout) {
				t.Fatalf("limit %d, cut %d: stored (%d, %v), flate (%d, %v)", limit, cut, n, err, fn, ferr)
			}
		}
	}
}
