package tunnel

import (
	"fmt"
	"io"
	"time"

	"i2pbridge/router/crypto"
)

// recordFilter remembers the ephemeral keys of build records we accepted
// to decrypt, so that a replayed record (the same bytes sent again by an
// observer or a malicious previous hop) is dropped instead of creating a
// second transit tunnel or a second reply (tunnel-creation.rst warns that
// replayed requests must be detected; i2pd 2.45 keeps no such filter).
//
// A record is only accepted within its request-time window (HopConfig
// RequestWindow), so remembering keys for that long suffices: two
// generations of exact sets, rotated every window. Build requests arrive at
// a few per second, so an exact set is small.
type recordFilter struct {
	window    time.Duration
	cur, prev map[[32]byte]struct{}
	rotatedAt time.Time
	started   bool
}

func newRecordFilter(window time.Duration) *recordFilter {
	return &recordFilter{window: window, cur: map[[32]byte]struct{}{}, prev: map[[32]byte]struct{}{}}
}

// seen reports whether k was recorded in the last window (at least) and
// records it.
func (f *recordFilter) seen(now time.Time, k [32]byte) bool {
	if !f.started {
		f.rotatedAt, f.started = now, true
	}
	if d := now.Sub(f.rotatedAt); d >= f.window {
		f.prev, f.cur = f.cur, make(map[[32]byte]struct{}, len(f.cur))
		if d >= 2*f.window {
			clear(f.prev)
		}
		f.rotatedAt = now
	}
	if _, ok := f.cur[k]; ok {
		return true
	}
	if _, ok := f.prev[k]; ok {
		return true
	}
	f.cur[k] = struct{}{}
	return false
}

// IVFilter is the router-wide duplicate filter for tunnel messages: a
// decaying Bloom filter over IV XOR the first data block of every
// TunnelData a transit tunnel receives (pages/site/docs/tunnels/
// implementation.html §"Participant Processing": "a decaying Bloom filter
// on message IVs ... the XOR of the IV and the first block of the message
// ... modified to drop seen entries after 10-20 minutes"). The XOR keeps
// colluding non-adjacent hops from tagging a message by swapping the IV
// and the first block and resending it.
//
// Two bit arrays of 2^log2Bits bits: lookups check both, inserts go to the
// current one, and every Window the older is cleared and becomes the
// current one, so an entry lives between one and two windows. Bit indices
// come from SipHash-2-4 under a random key, so a hop that chooses IVs
// cannot aim at particular bits to cause false positives elsewhere. A
// false positive drops one tunnel message; with k = 4 and n entries per
// window the rate is about 2·(1 − e^(−4n/m))^4 (m = 2^log2Bits): 2^23 bits
// (1 MiB per array) and 300 000 messages per window give about 6e-4.
//
// i2pd 2.45 has no duplicate filter at transit hops. An IVFilter is not
// safe for concurrent use.
type IVFilter struct {
	bits      [2][]uint64 // [cur, prev]
	mask      uint64
	key       [2][crypto.SipHashKeySize]byte
	window    time.Duration
	rotatedAt time.Time
	started   bool
}

// ivFilterHashes is k, the number of bits per entry.
const ivFilterHashes = 4

// DefaultIVFilterLog2Bits sizes an IVFilter when the caller gives no size
// (see IVFilter for the false-positive arithmetic).
const DefaultIVFilterLog2Bits = 23

// DefaultIVFilterWindow is the filter's decay period: tunnels live 10
// minutes, so a message older than that cannot be replayed into a live
// tunnel anyway.
const DefaultIVFilterWindow = 10 * time.Minute

// NewIVFilter returns an empty filter with 2^log2Bits bits per generation
// (10 to 30; 0 means DefaultIVFilterLog2Bits) and the given window (0
// means DefaultIVFilterWindow). The SipHash keys are read from r
// (crypto/rand when nil).
func NewIVFilter(r io.Reader, log2Bits int, window time.Duration) (*IVFilter, error) {
	if log2Bits == 0 {
		log2Bits = DefaultIVFilterLog2Bits
	}
	if log2Bits < 10 || log2Bits > 30 {
		return nil, fmt.Errorf("%w: IV filter of 2^%d bits, want 2^10 to 2^30", ErrConfig, log2Bits)
	}
	if window <= 0 {
		window = DefaultIVFilterWindow
	}
	f := &IVFilter{mask: 1<<log2Bits - 1, window: window}
	for i := range f.key {
		if _, err := io.ReadFull(randReader(r), f.key[i][:]); err != nil {
			return nil, fmt.Errorf("tunnel: IV filter key: %w", err)
		}
	}
	words := (1 << log2Bits) / 64
	f.bits[0], f.bits[1] = make([]uint64, words), make([]uint64, words)
	return f, nil
}

// Seen reports whether the tunnel message msg (IV ‖ data, as received) was
// seen in the last one to two windows, and records it.
func (f *IVFilter) Seen(now time.Time, msg *[crypto.TunnelMessageSize]byte) bool {
	if !f.started {
		f.rotatedAt, f.started = now, true
	}
	if d := now.Sub(f.rotatedAt); d >= f.window {
		f.bits[0], f.bits[1] = f.bits[1], f.bits[0]
		clear(f.bits[0])
		if d >= 2*f.window {
			clear(f.bits[1])
		}
		f.rotatedAt = now
	}
	var v [crypto.TunnelIVSize]byte
	for i := range v {
		v[i] = msg[i] ^ msg[crypto.TunnelIVSize+i]
	}
	h1 := crypto.SipHash24(&f.key[0], v[:])
	h2 := crypto.SipHash24(&f.key[1], v[:]) | 1
	var idx [ivFilterHashes]uint64
	inCur, inPrev := true, true
	for i := range idx {
		idx[i] = (h1 + uint64(i)*h2) & f.mask
		w, b := idx[i]/64, uint64(1)<<(idx[i]%64)
		inCur = inCur && f.bits[0][w]&b != 0
		inPrev = inPrev && f.bits[1][w]&b != 0
	}
	if inCur || inPrev {
		return true
	}
	for _, x := range idx {
		f.bits[0][x/64] |= 1 << (x % 64)
	}
	return false
}

// keyOf returns the 32 bytes at b as an array.
func keyOf(b []byte) (k [32]byte) {
	copy(k[:], b)
	return k
}
