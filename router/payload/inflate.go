package payload

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
)

// inflate decompresses the deflate stream at the start of d, producing at
// most limit bytes, and returns the data and how many bytes of d the stream
// used. hint sizes the output buffer.
func inflate(d []byte, limit, hint int) ([]byte, int, error) {
	if out, n, ok, err := inflateStored(d, limit); ok {
		return out, n, err
	}
	return inflateFlate(d, limit, hint)
}

// inflateStored decodes a stream made only of stored blocks, which is what
// i2pd sends for all streaming packets but SYNs, without compress/flate and
// its 32 KiB window. It reports ok = false, having decided nothing, when it
// meets a block of another type; the caller then starts over with flate.
// Its errors are the ones inflateFlate gives for the same input (the fuzz
// test FuzzInflatePathsAgree holds it to that).
func inflateStored(d []byte, limit int) (out []byte, n int, ok bool, err error) {
	// Measure and validate first, so the output is allocated once.
	off, total := 0, 0
	for {
		if off >= len(d) {
			return nil, 0, true, fmt.Errorf("%w: deflate data ends before its final block", ErrTruncated)
		}
		h := d[off]
		if h&0x06 != 0 { // BTYPE (bits 1-2) is not "stored"
			return nil, 0, false, nil
		}
		if len(d)-off < storedHeaderLen {
			return nil, 0, true, fmt.Errorf("%w: stored block header needs %d bytes, have %d", ErrTruncated, storedHeaderLen, len(d)-off)
		}
		ln := binary.LittleEndian.Uint16(d[off+1:])
		if nln := binary.LittleEndian.Uint16(d[off+3:]); ln != ^nln {
			return nil, 0, true, fmt.Errorf("%w: stored block LEN %#04x, NLEN %#04x is not its complement", ErrMalformed, ln, nln)
		}
		off += storedHeaderLen
		// A limit overrun counts before a truncation, as in inflateFlate.
		avail := min(int(ln), len(d)-off)
		if total+avail > limit {
			return nil, 0, true, tooLarge(limit)
		}
		if avail < int(ln) {
			return nil, 0, true, fmt.Errorf("%w: stored block of %d bytes, have %d", ErrTruncated, ln, avail)
		}
		total += int(ln)
		off += int(ln)
		if h&1 != 0 { // BFINAL
			break
		}
	}
	out = make([]byte, 0, total)
	for pos := 0; pos < off; {
		ln := int(binary.LittleEndian.Uint16(d[pos+1:]))
		pos += storedHeaderLen
		out = append(out, d[pos:pos+ln]...)
		pos += ln
	}
	return out, off, true, nil
}

// inflaters pools flate readers: each holds a 32 KiB window and its
// Huffman tables, and i2pd deflates every SYN and, by default, every
// datagram it sends.
var inflaters sync.Pool

// noInput is what pooled readers point at, so that the pool keeps no
// caller's buffer alive. Nothing reads it.
var noInput = bytes.NewReader(nil)

// inflateFlate decodes any deflate stream with compress/flate. The input is
// a bytes.Reader, an io.ByteReader, so flate reads no byte past the end of
// the stream and the reader's position says where the trailer starts.
func inflateFlate(d []byte, limit, hint int) ([]byte, int, error) {
	r := bytes.NewReader(d)
	fr, _ := inflaters.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(r)
	} else if err := fr.(flate.Resetter).Reset(r, nil); err != nil {
		return nil, 0, fmt.Errorf("%w: deflate reset: %v", ErrMalformed, err)
	}
	defer func() {
		_ = fr.(flate.Resetter).Reset(noInput, nil) // cannot fail without a dictionary
		inflaters.Put(fr)
	}()

	// Read one byte past the limit to tell "exactly limit" from "more".
	lr := io.LimitedReader{R: fr, N: int64(limit)}
	if lr.N < math.MaxInt64 {
		lr.N++
	}
	out := make([]byte, 0, max(hint, 512))
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		n, err := lr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		// flate hands out the last bytes it could decode together with
		// the error that stopped it; an overrun among them counts first.
		if len(out) > limit {
			return nil, 0, tooLarge(limit)
		}
		if err == io.EOF {
			return out, len(d) - r.Len(), nil
		}
		if err != nil {
			return nil, 0, flateError(err)
		}
	}
}

// flateError maps compress/flate's errors onto the package's sentinels.
func flateError(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: deflate data ends early", ErrTruncated)
	case errors.As(err, &corrupt):
		return fmt.Errorf("%w: deflate data: %v", ErrMalformed, err)
	default:
		return fmt.Errorf("%w: deflate: %v", ErrMalformed, err)
	}
}

func tooLarge(limit int) error {
	return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
}
