package datagram

import (
	"bytes"
	"testing"

	"i2pbridge/router/data"
)

// FuzzParseRepliable: no input panics, and whatever verifies is exactly
// destination ‖ signature ‖ payload, the payload being b's tail.
func FuzzParseRepliable(f *testing.F) {
	k := keys(f, "generated-rfc.dat")
	for _, p := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{0}, 1000)} {
		b, err := AppendRepliable(nil, k, p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(cat(keys(f, "dsa.dat").Destination().Bytes(), make([]byte, 45)))
	f.Fuzz(func(t *testing.T, b []byte) {
		from, p, err := ParseRepliable(b)
		if err != nil {
			return
		}
		n := from.Len() + from.SignatureLen()
		if !bytes.Equal(cat(from.Bytes(), b[from.Len():n], p), b) || len(p) != len(b)-n {
			t.Fatalf("%x does not split into destination, signature and payload %x", b, p)
		}
	})
}

// FuzzRepliableRoundTrip: every payload signs and verifies; flipping any
// bit of the signing key, the signature or the payload breaks it.
func FuzzRepliableRoundTrip(f *testing.F) {
	k := keys(f, "generated-rfc.dat")
	f.Add([]byte("hello"), uint16(0), byte(1))
	f.Add([]byte{}, uint16(60), byte(0x80))
	f.Add(bytes.Repeat([]byte{0xff}, 300), uint16(200), byte(4))
	f.Fuzz(func(t *testing.T, p []byte, at uint16, mask byte) {
		if len(p) > MaxLen-RepliableOverhead(k.Destination()) {
			return
		}
		b, err := AppendRepliable(nil, k, p)
		if err != nil {
			t.Fatal(err)
		}
		from, got, err := ParseRepliable(b)
		if err != nil || from != k.Destination() || !bytes.Equal(got, p) {
			t.Fatalf("ParseRepliable = %s, %x, %v", from, got, err)
		}
		if mask == 0 {
			return
		}
		// The bytes the signature binds: the signing key (last 32 bytes of
		// the key area), the signature and the payload. The certificate in
		// between is not bound (see TestSignatureDoesNotCoverDestinationPadding).
		var bound []int
		for i := data.KeyAreaLen - 32; i < len(b); i++ {
			if i < data.KeyAreaLen || i >= edDestLen {
				bound = append(bound, i)
			}
		}
		i := bound[int(at)%len(bound)]
		bad := bytes.Clone(b)
		bad[i] ^= mask
		if _, _, err := ParseRepliable(bad); err == nil {
			t.Fatalf("a datagram with byte %d changed still verifies", i)
		}
	})
}
