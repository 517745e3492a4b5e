package naming

import (
	"errors"
	"strings"
	"testing"

	"i2pbridge/router/data"
)

func TestNormalizeName(t *testing.T) {
	max := strings.Repeat("a", MaxNameLen-4) + ".i2p"
	b32 := testDest(t, 1).B32()
	spoof := strings.TrimSuffix(b32, data.B32Suffix) + ".i2p" // 52 base32 chars + .i2p
	tests := []struct {
		name string
		in   string
		want string
		err  error
	}{
		{"plain", "example.i2p", "example.i2p", nil},
		{"upper case is lowered", "ExAmPle.I2P", "example.i2p", nil},
		{"subdomain", "forum.example.i2p", "forum.example.i2p", nil},
		{"digits and hyphen", "1-2-3.i2p", "1-2-3.i2p", nil},
		{"single character", "x.i2p", "x.i2p", nil},
		{"idn label", "xn--bcher-kva.i2p", "xn--bcher-kva.i2p", nil},
		{"idn subdomain", "a.xn--bcher-kva.i2p", "a.xn--bcher-kva.i2p", nil},
		{"longest", max, max, nil},
		{"looks like proxy but is not", "myproxy.i2p", "myproxy.i2p", nil},
		{"51 base32 chars", spoof[:51] + ".i2p", spoof[:51] + ".i2p", nil},
		{"52 chars not all base32", "1" + spoof[1:], "1" + spoof[1:], nil},

		{"too long", "a" + max, "", ErrInvalidName},
		{"no i2p suffix", "example.com", "", ErrInvalidName},
		{"only suffix", ".i2p", "", ErrInvalidName},
		{"bare tld", "i2p", "", ErrInvalidName},
		{"empty", "", "", ErrInvalidName},
		{"suffix in the middle", "example.i2p.com", "", ErrInvalidName},
		{"leading dot", ".example.i2p", "", ErrInvalidName},
		{"leading hyphen", "-example.i2p", "", ErrInvalidName},
		{"double dot", "a..example.i2p", "", ErrInvalidName},
		{"label ends with hyphen", "example-.i2p", "", ErrInvalidName},
		{"label starts with hyphen", "a.-example.i2p", "", ErrInvalidName},
		{"double hyphen outside idn", "ex--ample.i2p", "", ErrInvalidName},
		{"idn marker not at label start", "axn--bcher.i2p", "", ErrInvalidName},
		{"underscore", "ex_ample.i2p", "", ErrInvalidName},
		{"space", "ex ample.i2p", "", ErrInvalidName},
		{"non-ascii letter", "exämple.i2p", "", ErrInvalidName},
		{"kelvin sign is not folded to k", "\u212aey.i2p", "", ErrInvalidName},
		{"trailing dot", "example.i2p.", "", ErrInvalidName},

		{"b32 address", b32, "", ErrReservedName},
		{"b32 label", "b32.i2p", "", ErrReservedName},
		{"proxy", "proxy.i2p", "", ErrReservedName},
		{"router", "router.i2p", "", ErrReservedName},
		{"console", "Console.i2p", "", ErrReservedName},
		{"proxy subdomain", "evil.proxy.i2p", "", ErrReservedName},
		{"console subdomain", "a.b.console.i2p", "", ErrReservedName},
		{"b32 subdomain", "short.b32.i2p", "", ErrReservedName},
		{"base32 spoof", spoof, "", ErrReservedName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeName(tt.in)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("NormalizeName(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseHost(t *testing.T) {
	d := testDest(t, 2)
	b32 := d.B32()
	b33 := strings.Repeat("a", 56) + data.B32Suffix
	tests := []struct {
		name string
		in   string
		want Host
		err  error
	}{
		{"name", "Example.i2p", Host{Kind: HostName, Name: "example.i2p"}, nil},
		{"absolute form", "example.i2p.", Host{Kind: HostName, Name: "example.i2p"}, nil},
		{"reserved is flagged, not refused", "proxy.i2p", Host{Kind: HostName, Name: "proxy.i2p", Reserved: true}, nil},
		{"b32", b32, Host{Kind: HostB32, Name: b32, Hash: d.Hash()}, nil},
		{"b32 upper case", strings.ToUpper(b32), Host{Kind: HostB32, Name: b32, Hash: d.Hash()}, nil},
		{"b32 absolute form", b32 + ".", Host{Kind: HostB32, Name: b32, Hash: d.Hash()}, nil},
		{"encrypted leaseset b33", b33, Host{}, data.ErrEncryptedB32},
		{"short b32", "abc.b32.i2p", Host{}, data.ErrB32},
		{"b32 with bad characters", strings.Repeat("1", 52) + data.B32Suffix, Host{}, data.ErrB32},
		{"clearnet", "example.com", Host{}, ErrInvalidName},
		{"bad characters", "a_b.i2p", Host{}, ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHost(tt.in)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("ParseHost(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Errorf("ParseHost(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestKindStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{HostName.String(), "name"},
		{HostB32.String(), "b32"},
		{HostKind(9).String(), "HostKind(9)"},
		{LineEmpty.String(), "empty"},
		{LineEntry.String(), "entry"},
		{LineCommand.String(), "command"},
		{LineKind(0).String(), "LineKind(0)"},
		{HelperDestination.String(), "destination"},
		{HelperB32.String(), "b32"},
		{HelperKind(7).String(), "HelperKind(7)"},
		{HelperNewName.String(), "new name"},
		{HelperMatches.String(), "matches"},
		{HelperConflicts.String(), "conflicts"},
		{HelperVerdict(0).String(), "HelperVerdict(0)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}
