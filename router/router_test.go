package router

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/netdb"
	"i2pbridge/router/netx"
	"i2pbridge/router/ntcp2"
)

const i2pdTestdata = "data/testdata/i2pd-ri"

func readRI(t *testing.T, path string) data.RouterInfo {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ri, err := netdb.ParseRouterInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	return ri
}

// TestNewCreatesDatadirLikeI2pd: a new router writes router.keys and
// ntcp2.keys (0600) and router.info with the RouterInfo i2pd requires;
// started again on the same datadir it keeps its identity and NTCP2 key.
func TestNewCreatesDatadirLikeI2pd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mem := netx.NewMem()
	cfg := Config{Datadir: dir, NetID: 99, NTCP2Listen: "198.19.1.20:0", Net: mem}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{RouterKeysFile, NTCP2KeysFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("datadir mode %v, want 0700", st.Mode().Perm())
	}
	ri := readRI(t, filepath.Join(dir, RouterInfoFile))
	if ri.Hash() != r.Hash() || !bytes.Equal(ri.Bytes(), r.RouterInfo().Bytes()) {
		t.Fatal("router.info is not our RouterInfo")
	}
	if err := netdb.CheckRouterInfo(ri, 99, time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	addr, err := ntcp2.PeerAddress(ri)
	if err != nil {
		t.Fatal(err)
	}
	if addr.AddrPort.Addr() != netip.MustParseAddr("198.19.1.20") || addr.AddrPort.Port() == 0 {
		t.Fatalf("published NTCP2 address %v", addr.AddrPort)
	}
	if ri.Caps() != "LR" || ri.RouterVersion() != "0.9.57" {
		t.Fatalf("caps %q, version %q", ri.Caps(), ri.RouterVersion())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}

	// Again on the same datadir: same identity and static key; the port
	// the closed router held is free again.
	cfg.NTCP2Listen = addr.AddrPort.String()
	r2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	ri2 := r2.RouterInfo()
	addr2, _ := ntcp2.PeerAddress(ri2)
	if r2.Hash() != r.Hash() || addr2.StaticKey != addr.StaticKey || addr2.IV != addr.IV {
		t.Fatal("a restart changed the identity or the NTCP2 key")
	}
}

// TestNewLoadsI2pdKeys: a datadir holding router.keys and ntcp2.keys
// written by i2pd 2.45.1 gives a router with i2pd's identity.
func TestNewLoadsI2pdKeys(t *testing.T) {
	dir := t.TempDir()
	for src, dst := range map[string]string{"router-a.keys": RouterKeysFile, "ntcp2-a.keys": NTCP2KeysFile} {
		b, err := os.ReadFile(filepath.Join(i2pdTestdata, src))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, dst), b, 0o600)
	}
	want := readRI(t, filepath.Join(i2pdTestdata, "router-a.info"))
	r, err := New(Config{Datadir: dir, NetID: 99, NTCP2Listen: "198.19.1.21:12345", Net: netx.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Hash() != want.Hash() {
		t.Fatalf("identity %s, i2pd's is %s", r.Hash().Short(), want.Hash().Short())
	}
	wantAddr, _ := ntcp2.PeerAddress(want)
	gotAddr, _ := ntcp2.PeerAddress(r.RouterInfo())
	if gotAddr.StaticKey != wantAddr.StaticKey || gotAddr.IV != wantAddr.IV {
		t.Fatal("NTCP2 key differs from i2pd's")
	}
}

func TestNewConfigErrors(t *testing.T) {
	mem := netx.NewMem()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no datadir", Config{}},
		{"netid out of range", Config{NetID: 300}},
		{"bandwidth", Config{Bandwidth: "Z"}},
		{"unspecified listen without host", Config{NTCP2Listen: "0.0.0.0:0"}},
		{"host is a name", Config{NTCP2Listen: "198.19.1.22:0", NTCP2Host: "example.com"}},
		{"floodfill without inbound", Config{Floodfill: true}},
		{"missing seed dir", Config{SeedDir: "/nonexistent/seeds"}},
		{"missing reseed file", Config{ReseedFiles: []string{"/nonexistent.su3"}, InsecureReseed: true}},
		{"su3 without certificates", Config{ReseedFiles: []string{"x"}, ReseedCertDir: "/nonexistent"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Datadir == "" && tc.name != "no datadir" {
				tc.cfg.Datadir = t.TempDir()
			}
			tc.cfg.Net = mem
			r, err := New(tc.cfg)
			if err == nil {
				r.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}

// TestFirewalledRouterPublishesNoAddress: without a listener the NTCP2
// address has only s, v and caps 4, and the router cap is U (i2pd's
// unpublished NTCP2 address).
func TestFirewalledRouterPublishesNoAddress(t *testing.T) {
	r, err := New(Config{Datadir: t.TempDir(), NetID: 99, Net: netx.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ri := r.RouterInfo()
	if ri.Caps() != "LU" {
		t.Fatalf("caps %q, want LU", ri.Caps())
	}
	if netdb.Dialable(ri) {
		t.Fatal("a firewalled router looks dialable")
	}
	a := ri.Addresses()[0]
	if _, ok := a.Option("host"); ok {
		t.Fatal("host published")
	}
	if c, _ := a.Option("caps"); c != "4" {
		t.Fatalf("address caps %q, want 4", c)
	}
}

// TestNTCP2HostOverridesListenAddress: listening on all addresses needs a
// published host, which goes into the RouterInfo with the bound port.
func TestNTCP2HostOverridesListenAddress(t *testing.T) {
	r, err := New(Config{Datadir: t.TempDir(), NetID: 99, NTCP2Listen: "0.0.0.0:4567", NTCP2Host: "198.19.1.23", Floodfill: true, Bandwidth: "X", Net: netx.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a, _ := ntcp2.PeerAddress(r.RouterInfo())
	if a.AddrPort != netip.MustParseAddrPort("198.19.1.23:4567") {
		t.Fatalf("published %v", a.AddrPort)
	}
	if c := r.RouterInfo().Caps(); c != "XfR" {
		t.Fatalf("caps %q, want XfR", c)
	}
}

// TestRunRefreshesAndStops: a running router re-signs its RouterInfo every
// RefreshInterval (router.info follows), Run twice is refused, Close stops
// it, and nothing is left running (synctest.Test checks).
func TestRunRefreshesAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		r, err := New(Config{Datadir: dir, NetID: 99, NTCP2Listen: "198.19.1.24:12345", Net: netx.NewMem(),
			Tuning: Tuning{RefreshInterval: 10 * time.Minute}})
		if err != nil {
			t.Fatal(err)
		}
		first := r.RouterInfo()
		done := make(chan error)
		go func() { done <- r.Run(context.Background()) }()
		synctest.Wait()
		if err := r.Run(context.Background()); !errors.Is(err, ErrRunning) {
			t.Fatalf("second Run: %v", err)
		}
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		now := r.RouterInfo()
		if now.Published() <= first.Published() {
			t.Fatal("RouterInfo not re-signed after RefreshInterval")
		}
		if onDisk := readRI(t, filepath.Join(dir, RouterInfoFile)); onDisk.Published() != now.Published() {
			t.Fatal("router.info not updated")
		}
		st := r.Status(context.Background())
		if st.Hash != r.Hash() || st.Caps != "LR" || st.NTCP2.Port() != 12345 {
			t.Fatalf("status %+v", st)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		r.Close() // again: nothing happens
	})
}

func TestPrintRouterInfo(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(i2pdTestdata, "router-a.info"))
	if err != nil {
		t.Fatal(err)
	}
	ri := readRI(t, filepath.Join(i2pdTestdata, "router-a.info"))
	var out bytes.Buffer
	if err := PrintRouterInfo(&out, good); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"RouterInfo " + ri.Hash().Base64(),
		"crypto type 4 (X25519), signing type 7 (Ed25519)",
		"netId: 99",
		"version: 0.9.57",
		"floodfill: true",
		"address 0: NTCP2",
		"    s=",
		"signature: valid",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	out.Reset()
	err = PrintRouterInfo(&out, bad)
	if !errors.Is(err, data.ErrBadSignature) || !strings.Contains(out.String(), "signature: INVALID") {
		t.Fatalf("tampered: %v\n%s", err, out.String())
	}
	if err := PrintRouterInfo(&out, good[:50]); err == nil {
		t.Fatal("truncated RouterInfo printed")
	}
	out.Reset()
	if err := PrintRouterInfo(&out, append(append([]byte(nil), good...), 1, 2)); err != nil || !strings.Contains(out.String(), "2 bytes after") {
		t.Fatalf("trailing bytes: %v\n%s", err, out.String())
	}
}

// TestRunReseedsFromServer: a router that knows nobody fetches a signed
// su3 from its reseed URL at start and stores what it holds; su3 seed files
// given at New are verified against the same certificates.
func TestRunReseedsFromServer(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	certs := t.TempDir()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test@mail.i2p"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(certs, "test_at_mail.i2p.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)

	// Two routers' RouterInfos to hand out.
	var ris []data.RouterInfo
	for i := range 2 {
		o, err := New(Config{Datadir: t.TempDir(), NetID: 99, NTCP2Listen: netip.AddrPortFrom(netip.MustParseAddr("198.19.1.30"), uint16(1000+i)).String(), Net: netx.NewMem()})
		if err != nil {
			t.Fatal(err)
		}
		ris = append(ris, o.RouterInfo())
		o.Close()
	}
	var z bytes.Buffer
	if err := netdb.WriteZip(&z, ris); err != nil {
		t.Fatal(err)
	}
	su3, err := netdb.WriteSU3(z.Bytes(), "1", "test@mail.i2p", key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(su3) }))
	defer srv.Close()

	r, err := New(Config{Datadir: t.TempDir(), NetID: 99, NTCP2Listen: "198.19.1.31:1000", Net: netx.NewMem(),
		ReseedURLs: []string{srv.URL + "/"}, HTTPClient: srv.Client(), ReseedCertDir: certs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for r.NetDB().Stats().Routers < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := r.NetDB().Stats().Routers; n != 2 {
		t.Fatalf("know %d routers after reseeding, want 2", n)
	}

	// The same su3 as a reseed file, verified at New; tampered, refused.
	file := filepath.Join(t.TempDir(), "i2pseeds.su3")
	os.WriteFile(file, su3, 0o644)
	r2, err := New(Config{Datadir: t.TempDir(), NetID: 99, Net: netx.NewMem(), ReseedFiles: []string{file}, ReseedCertDir: certs})
	if err != nil {
		t.Fatal(err)
	}
	if n := r2.NetDB().Stats().Routers; n != 2 {
		t.Fatalf("know %d routers from the su3 file, want 2", n)
	}
	r2.Close()
	su3[len(su3)-100] ^= 1
	os.WriteFile(file, su3, 0o644)
	if r3, err := New(Config{Datadir: t.TempDir(), NetID: 99, Net: netx.NewMem(), ReseedFiles: []string{file}, ReseedCertDir: certs}); !errors.Is(err, netdb.ErrSignature) {
		if r3 != nil {
			r3.Close()
		}
		t.Fatalf("tampered su3: %v, want ErrSignature", err)
	}
}
