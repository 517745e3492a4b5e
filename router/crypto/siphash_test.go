package crypto

import (
	"encoding/binary"
	"testing"
)

// sipHashVectors are the 64 SipHash-2-4 outputs of the SipHash reference
// implementation (github.com/veorq/SipHash, vectors.h, vectors_sip64), the
// test vectors that accompany Aumasson and Bernstein's paper: key 00 01 … 0f,
// message i = the i bytes 00 01 … i-1, output as its 8 little-endian bytes.
// Entry 15 is the paper's worked example (Appendix A: a129ca6149be45e5).
var sipHashVectors = [64]string{
	"310e0edd47db6f72",
	"fd67dc93c539f874",
	"5a4fa9d909806c0d",
	"2d7efbd796666785",
	"b7877127e09427cf",
	"8da699cd64557618",
	"cee3fe586e46c9cb",
	"37d1018bf50002ab",
	"6224939a79f5f593",
	"b0e4a90bdf82009e",
	"f3b9dd94c5bb5d7a",
	"a7ad6b22462fb3f4",
	"fbe50e86bc8f1e75",
	"903d84c02756ea14",
	"eef27a8e90ca23f7",
	"e545be4961ca29a1",
	"db9bc2577fcc2a3f",
	"9447be2cf5e99a69",
	"9cd38d96f0b3c14b",
	"bd6179a71dc96dbb",
	"98eea21af25cd6be",
	"c7673b2eb0cbf2d0",
	"883ea3e395675393",
	"c8ce5ccd8c030ca8",
	"94af49f6c650adb8",
	"eab8858ade92e1bc",
	"f315bb5bb835d817",
	"adcf6b0763612e2f",
	"a5c91da7acaa4dde",
	"716595876650a2a6",
	"28ef495c53a387ad",
	"42c341d8fa92d832",
	"ce7cf2722f512771",
	"e37859f94623f3a7",
	"381205bb1ab0e012",
	"ae97a10fd434e015",
	"b4a31508beff4d31",
	"81396229f0907902",
	"4d0cf49ee5d4dcca",
	"5c73336a76d8bf9a",
	"d0a704536ba93e0e",
	"925958fcd6420cad",
	"a915c29bc8067318",
	"952b79f3bc0aa6d4",
	"f21df2e41d4535f9",
	"87577519048f53a9",
	"10a56cf5dfcd9adb",
	"eb75095ccd986cd0",
	"51a9cb9ecba312e6",
	"96afadfc2ce666c7",
	"72fe52975a4364ee",
	"5a1645b276d592a1",
	"b274cb8ebf87870a",
	"6f9bb4203de7b381",
	"eaecb2a30b22a87f",
	"9924a43cc1315724",
	"bd838d3aafbf8db7",
	"0b1a2a3265d51aea",
	"135079a3231ce660",
	"932b2846e4d70666",
	"e1915f5cb1eca46c",
	"f325965ca16d629f",
	"575ff28e60381be5",
	"724506eb4c328a95",
}

func TestSipHash24MatchesReferenceVectors(t *testing.T) {
	key := [SipHashKeySize]byte(seq(0, 16))
	msg := seq(0, 64)
	for i, v := range sipHashVectors {
		want := binary.LittleEndian.Uint64(unhex(t, v))
		if got := SipHash24(&key, msg[:i]); got != want {
			t.Errorf("SipHash24(msg of %d bytes) = %016x, want %016x", i, got, want)
		}
	}
	if got := SipHash24(&key, msg[:15]); got != 0xa129ca6149be45e5 {
		t.Errorf("paper Appendix A example = %016x, want a129ca6149be45e5", got)
	}
}

// With sipk1‖sipk2 = 00…0f and sipiv = 00…07, IV[1] = SipHash-2-4(00…07) is
// reference vector 8 (62 24 93 9a 79 f5 f5 93), so the first mask is 0x2462
// and a zero length goes on the wire as 24 62. This pins the byte order of the IV chain, the
// mask and the big-endian length against a published value.
func TestLengthObfuscatorFirstMaskFollowsSpecByteOrder(t *testing.T) {
	var keys [32]byte
	copy(keys[0:16], seq(0, 16)) // sipk1, sipk2
	copy(keys[16:24], seq(0, 8)) // sipiv
	copy(keys[24:32], seq(0xee, 8))

	o := NewLengthObfuscator(&keys)
	if got := o.EncodeLength(0); got != [2]byte{0x24, 0x62} {
		t.Fatalf("first obfuscated zero length = % x, want 24 62", got)
	}
	// The second IV is SipHash of the first IV's 8 little-endian bytes.
	key := [SipHashKeySize]byte(seq(0, 16))
	next := SipHash24(&key, unhex(t, sipHashVectors[8]))
	want := uint16(next) ^ 0x05dc // a 1500-byte frame
	if got := o.EncodeLength(1500); binary.BigEndian.Uint16(got[:]) != want {
		t.Fatalf("second frame wire = % x, want %04x", got, want)
	}
}

// Sender and receiver hold the same key material; every length must come
// out as it went in, frame after frame, and a receiver that skipped a frame
// must not.
func TestLengthObfuscatorRoundTripsAcrossFrames(t *testing.T) {
	var keys [32]byte
	copy(keys[:], seq(0x40, 32))
	tx, rx := NewLengthObfuscator(&keys), NewLengthObfuscator(&keys)
	for i := range 2000 {
		n := uint16(16 + i*31)
		if got := rx.DecodeLength(tx.EncodeLength(n)); got != n {
			t.Fatalf("frame %d: decoded %d, want %d", i, got, n)
		}
	}
	tx.NextMask() // a frame the receiver never saw
	mismatched := 0
	for i := range 16 {
		if rx.DecodeLength(tx.EncodeLength(uint16(100+i))) != uint16(100+i) {
			mismatched++
		}
	}
	if mismatched == 0 {
		t.Fatal("a receiver one frame behind still decodes every length")
	}
}
