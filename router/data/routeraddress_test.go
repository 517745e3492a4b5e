package data

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// ntcp2Vector is a published NTCP2 address laid out by hand from
// common-structures.rst "RouterAddress" and ntcp2.rst "Published Router
// Info": cost 3, expiration 0, "NTCP2", options host, i, port, s, v sorted.
func ntcp2Vector() (NTCP2Address, []byte) {
	var n NTCP2Address
	for i := range n.StaticKey {
		n.StaticKey[i] = byte(i)
	}
	for i := range n.IV {
		n.IV[i] = byte(0xf0 + i)
	}
	n.AddrPort = netip.MustParseAddrPort("198.18.0.1:12345")
	var opts []byte
	for _, kv := range [][2]string{
		{"host", "198.18.0.1"},
		{"i", Base64Encode(n.IV[:])},
		{"port", "12345"},
		{"s", Base64Encode(n.StaticKey[:])},
		{"v", "2"},
	} {
		opts = append(opts, byte(len(kv[0])))
		opts = append(opts, kv[0]...)
		opts = append(opts, '=', byte(len(kv[1])))
		opts = append(opts, kv[1]...)
		opts = append(opts, ';')
	}
	b := []byte{3, 0, 0, 0, 0, 0, 0, 0, 0, 5, 'N', 'T', 'C', 'P', '2', 0, byte(len(opts))}
	return n, append(b, opts...)
}

func TestNewNTCP2AddressMatchesHandLayout(t *testing.T) {
	n, want := ntcp2Vector()
	a, err := NewNTCP2Address(n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || a.Len() != len(want) {
		t.Fatalf("NewNTCP2Address bytes\n got %x\nwant %x", got, want)
	}
	back, err := a.NTCP2()
	if err != nil || back != n {
		t.Fatalf("NTCP2() = %+v, %v; want %+v", back, err, n)
	}
	p, m, err := ParseRouterAddress(append(want, 0xaa))
	if err != nil || m != len(want) || p.Cost != NTCP2CostPublished || p.Transport != TransportNTCP2 || p.Expiration != 0 {
		t.Fatalf("ParseRouterAddress = %+v, %d, %v", p, m, err)
	}
	if s, _ := p.Option("s"); s != Base64Encode(n.StaticKey[:]) || len(s) != 44 {
		t.Fatalf("s = %q", s)
	}
	if iv, _ := p.Option("i"); len(iv) != 24 {
		t.Fatalf("i = %q, want 24 base64 characters", iv)
	}
	for i := range want {
		if _, k, err := ParseRouterAddress(want[:i]); !errors.Is(err, ErrTruncated) || k != 0 {
			t.Fatalf("ParseRouterAddress(%d of %d bytes) = %d, %v", i, len(want), k, err)
		}
	}
}

func TestNTCP2AddressUnpublishedAndIPv6(t *testing.T) {
	var n NTCP2Address
	n.StaticKey[0] = 0x42
	a, err := NewNTCP2Address(n)
	if err != nil {
		t.Fatal(err)
	}
	// i2pd writes an unpublished NTCP2 address as caps=4, s, v=2, cost 14.
	want := "{\"caps\"=\"4\", \"s\"=\"" + Base64Encode(n.StaticKey[:]) + "\", \"v\"=\"2\"}"
	if a.Cost != NTCP2CostUnpublished || a.Options.String() != want {
		t.Fatalf("unpublished = cost %d %s, want %s", a.Cost, a.Options, want)
	}
	back, err := a.NTCP2()
	if err != nil || back.Published() || back.StaticKey != n.StaticKey || back.Caps != "4" {
		t.Fatalf("NTCP2() = %+v, %v", back, err)
	}

	n.AddrPort = netip.MustParseAddrPort("[2001:db8:0:0::1]:443")
	a, err = NewNTCP2Address(n)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := a.Option("host"); h != "2001:db8::1" {
		t.Fatalf("IPv6 host written as %q, want the canonical 2001:db8::1", h)
	}
	back, err = a.NTCP2()
	if err != nil || back.AddrPort != n.AddrPort {
		t.Fatalf("NTCP2() = %+v, %v", back, err)
	}

	for _, bad := range []string{"0.0.0.0:1", "1.2.3.4:0"} {
		n.AddrPort = netip.MustParseAddrPort(bad)
		if _, err := NewNTCP2Address(n); !errors.Is(err, ErrOption) {
			t.Errorf("NewNTCP2Address(%s) = %v, want ErrOption", bad, err)
		}
	}
}

func TestRouterAddressNTCP2Errors(t *testing.T) {
	n, _ := ntcp2Vector()
	good, err := NewNTCP2Address(n)
	if err != nil {
		t.Fatal(err)
	}
	with := func(key, value string) RouterAddress {
		a := good
		var err error
		if a.Options, err = a.Options.With(key, value); err != nil {
			t.Fatal(err)
		}
		return a
	}
	without := func(key string) RouterAddress {
		kv := map[string]string{}
		for _, e := range good.Options.Entries() {
			if e.Key != key {
				kv[e.Key] = e.Value
			}
		}
		a := good
		a.Options, _ = NewMapping(kv)
		return a
	}
	ssu := good
	ssu.Transport = TransportSSU2
	tests := map[string]RouterAddress{
		"SSU2 transport":   ssu,
		"v=3":              with("v", "3"),
		"no s":             without("s"),
		"short s":          with("s", Base64Encode(make([]byte, 31))),
		"s not base64":     with("s", strings.Repeat("!", 44)),
		"short i":          with("i", Base64Encode(make([]byte, 15))),
		"host name":        with("host", "example.com"),
		"unspecified host": with("host", "0.0.0.0"),
		"no host":          without("host"),
		"port 0":           with("port", "0"),
		"port 65536":       with("port", "65536"),
		"port +1":          with("port", "+1"),
	}
	for name, a := range tests {
		if _, err := a.NTCP2(); !errors.Is(err, ErrOption) {
			t.Errorf("%s: NTCP2() = %v, want ErrOption", name, err)
		}
	}
	// Without i the address is unpublished and host/port are not read.
	if n2, err := without("i").NTCP2(); err != nil || n2.Published() {
		t.Fatalf("no i: %+v, %v", n2, err)
	}
	// i2pd reads the old "NTCP" style as NTCP2 too.
	legacy := good
	legacy.Transport = "NTCP"
	if _, err := legacy.NTCP2(); err != nil {
		t.Fatalf("NTCP style: %v", err)
	}
}

func TestRouterAddressExpirationMustBeZeroToWrite(t *testing.T) {
	_, raw := ntcp2Vector()
	raw[8] = 1 // expiration = 1 ms
	a, n, err := ParseRouterAddress(raw)
	if err != nil || n != len(raw) || a.Expiration != 1 {
		t.Fatalf("parse nonzero expiration: %+v, %v", a, err)
	}
	if _, err := a.Append(nil); !errors.Is(err, ErrNonzeroExpiration) {
		t.Fatalf("Append = %v, want ErrNonzeroExpiration", err)
	}
	out, err := a.append(nil)
	if err != nil || !bytes.Equal(out, raw) {
		t.Fatalf("lossless re-encode = %x, %v", out, err)
	}
}

func TestRouterAddressRejectsBadFields(t *testing.T) {
	long := RouterAddress{Transport: strings.Repeat("T", 256)}
	if _, err := long.Append(nil); !errors.Is(err, ErrTooLong) {
		t.Fatalf("256-byte transport: %v", err)
	}
	_, raw := ntcp2Vector()
	// Append a second "v=2;" and grow the mapping size (bytes 15-16, after
	// cost, expiration and "NTCP2"): a duplicate key.
	dup := append(raw[:len(raw):len(raw)], "\x01v=\x012;"...)
	size := int(dup[15])<<8 | int(dup[16]) + 6
	dup[15], dup[16] = byte(size>>8), byte(size)
	if _, _, err := ParseRouterAddress(dup); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("duplicate option: %v, want ErrDuplicateKey", err)
	}
}

func FuzzRouterAddressRoundTrip(f *testing.F) {
	_, raw := ntcp2Vector()
	f.Add(raw)
	for _, fx := range i2pdRouterInfoFiles(f) {
		ri, _, err := ParseRouterInfo(fx.raw)
		if err != nil {
			f.Fatal(err)
		}
		for _, a := range ri.Addresses() {
			b, err := a.Append(nil)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, n, err := ParseRouterAddress(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error with n=%d", n)
			}
			return
		}
		out, err := a.Append(nil)
		if a.Expiration != 0 {
			if !errors.Is(err, ErrNonzeroExpiration) {
				t.Fatalf("nonzero expiration written: %v", err)
			}
			out, err = a.append(nil)
		}
		if err != nil || !bytes.Equal(out, b[:n]) || a.Len() != n {
			t.Fatalf("round trip: %x -> %x, %v", b[:n], out, err)
		}
		if nt, err := a.NTCP2(); err == nil {
			// Whatever NTCP2() accepts describes the address: rebuilding it
			// gives the same s, and the same host/port/i when published.
			re, err := NewNTCP2Address(nt)
			if err != nil {
				if nt.Published() {
					t.Fatalf("accepted NTCP2 address cannot be rebuilt: %v", err)
				}
				return
			}
			back, err := re.NTCP2()
			if err != nil || back.StaticKey != nt.StaticKey || back.AddrPort != nt.AddrPort || (nt.Published() && back.IV != nt.IV) {
				t.Fatalf("rebuilt NTCP2 address differs: %+v vs %+v (%v)", back, nt, err)
			}
		}
	})
}
