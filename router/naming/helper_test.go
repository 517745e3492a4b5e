package naming

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"i2pbridge/router/data"
)

func TestParseAddressHelper(t *testing.T) {
	d := testDest(t, 400)
	old := testNullCertDest(t, 401)
	tests := []struct {
		name string
		in   string
		want AddressHelper
		err  error
	}{
		{"base64 destination", d.Base64(), AddressHelper{Kind: HelperDestination, Dest: d, Hash: d.Hash()}, nil},
		{"null certificate destination", old.Base64(), AddressHelper{Kind: HelperDestination, Dest: old, Hash: old.Hash()}, nil},
		{"b32", d.B32(), AddressHelper{Kind: HelperB32, Hash: d.Hash()}, nil},
		{"b32 upper case", strings.ToUpper(d.B32()), AddressHelper{Kind: HelperB32, Hash: d.Hash()}, nil},

		{"empty", "", AddressHelper{}, ErrInvalidHelper},
		{"host name", "example.i2p", AddressHelper{}, ErrInvalidHelper},
		{"bare base32 without suffix", strings.TrimSuffix(d.B32(), data.B32Suffix), AddressHelper{}, ErrInvalidHelper},
		{"encrypted leaseset b33", strings.Repeat("a", 56) + data.B32Suffix, AddressHelper{}, data.ErrEncryptedB32},
		{"bad b32", "abc" + data.B32Suffix, AddressHelper{}, data.ErrB32},
		{"truncated destination", d.Base64()[:400], AddressHelper{}, ErrInvalidDestination},
		{"surrounding blank", " " + d.Base64(), AddressHelper{}, ErrInvalidHelper},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "~", "/").Replace(old.Base64()) + "+/", AddressHelper{}, ErrInvalidHelper},
		{"oversized", strings.Repeat("A", MaxDestinationBase64+4), AddressHelper{}, ErrInvalidDestination},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddressHelper(tt.in)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("ParseAddressHelper error = %v, want %v", err, tt.err)
			}
			if err != nil && !errors.Is(err, ErrInvalidHelper) {
				t.Errorf("error %v does not match ErrInvalidHelper", err)
			}
			if got != tt.want {
				t.Errorf("ParseAddressHelper = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckHelper(t *testing.T) {
	dir := t.TempDir()
	known, other := testDest(t, 410), testDest(t, 411)
	ro := writeHosts(t, dir, "hosts.txt", line("known.i2p", known))
	bs, _, err := OpenBooks(filepath.Join(dir, "local.txt"), []string{ro})
	if err != nil {
		t.Fatal(err)
	}
	helper := func(d data.Destination) AddressHelper {
		return AddressHelper{Kind: HelperDestination, Dest: d, Hash: d.Hash()}
	}
	b32Helper := func(d data.Destination) AddressHelper { return AddressHelper{Kind: HelperB32, Hash: d.Hash()} }
	tests := []struct {
		name    string
		host    string
		h       AddressHelper
		verdict HelperVerdict
		err     error
	}{
		{"unknown name", "new.i2p", helper(other), HelperNewName, nil},
		{"same destination", "known.i2p", helper(known), HelperMatches, nil},
		{"same destination as b32, host in absolute form", "Known.i2p.", b32Helper(known), HelperMatches, nil},
		{"different destination", "known.i2p", helper(other), HelperConflicts, nil},
		{"different b32", "known.i2p", b32Helper(other), HelperConflicts, nil},
		{"b32 host", known.B32(), helper(known), 0, ErrReservedName},
		{"reserved host", "proxy.i2p", helper(known), 0, ErrReservedName},
		{"invalid host", "exa_mple.i2p", helper(known), 0, ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bs.CheckHelper(tt.host, tt.h)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("CheckHelper error = %v, want %v", err, tt.err)
			}
			if got.Verdict != tt.verdict {
				t.Errorf("verdict = %v, want %v", got.Verdict, tt.verdict)
			}
			if tt.verdict == HelperMatches || tt.verdict == HelperConflicts {
				if got.Existing.Dest != known || got.Existing.Source != ro || got.Name != "known.i2p" {
					t.Errorf("Existing = %+v name %q, want known.i2p from %s", got.Existing, got.Name, ro)
				}
			}
		})
	}
}
