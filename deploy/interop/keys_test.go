package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"i2pbridge/deploy/testnet"
	"i2pbridge/router/data"
)

// The harness itself: i2pd's HTTP proxy fetches the i2pd-hosted eepsite's
// 20 MiB file intact. Logs the bring-up figures measured in TestMain.
func TestEepsiteDownloadThroughI2pdProxy(t *testing.T) {
	n := needNet(t)
	t.Logf("%s; bring-up %s, first eepsite fetch %s after that", testnet.I2PDVersion(""),
		n.BringUp.Round(time.Millisecond), n.FirstFetch.Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	if err := n.WaitFetch(ctx, "http://"+n.EepsiteB32+"/", testnet.IndexMarker); err != nil {
		t.Fatal(err)
	}
	t.Logf("index page in %s", time.Since(start).Round(time.Millisecond))

	var first time.Time
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, "http://"+n.EepsiteB32+testnet.BigPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	resp, err := n.ProxyClient(2 * time.Minute).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	got, err := io.Copy(h, resp.Body)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("download after %d bytes: %v", got, err)
	}
	if resp.StatusCode != http.StatusOK || got != testnet.BigSize {
		t.Fatalf("status %d, %d bytes, want 200 and %d", resp.StatusCode, got, testnet.BigSize)
	}
	want := sha256.Sum256(testnet.BigFile())
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("20 MiB file differs from what the eepsite served")
	}
	t.Logf("20 MiB through i2pd proxy → eepsite (tunnel length 1): %.2f MiB/s, time to first byte %s",
		float64(got)/(1<<20)/took.Seconds(), first.Sub(start).Round(time.Millisecond))
}

// Scenario e, first half: a key file made by `i2pbridge keygen` works as
// an i2pd server tunnel's keys, and i2pd serves the b32 keygen printed.
func TestKeygenKeysServedByI2pd(t *testing.T) {
	n := needBinary(t)
	ctx := context.Background()
	// The eepsite's router: not a floodfill (see testnet.isFloodfill) and
	// not one the bridge scenarios restart.
	r := n.Router(n.EepsiteRouter)
	keys := filepath.Join(r.Dir, "keygen.dat")
	b32, err := keygen(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(keys)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("keygen wrote %s with mode %o, want 600", keys, mode)
	}
	made, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	host, port := "127.0.0.1", 8080 // the eepsite's web server (testnet.EepsiteAddr)
	if err := r.AddServerTunnel(testnet.ServerTunnel{Name: "keygen", Keys: "keygen.dat", Host: host, Port: port}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// SIGHUP: i2pd rereads tunnels.conf and starts the new server tunnel.
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := n.WaitFetch(wctx, "http://"+b32+"/", testnet.IndexMarker); err != nil {
		t.Fatalf("i2pd router %d with keygen's keys: %s never answered through the proxy: %v", r.K, b32, err)
	}
	t.Logf("i2pd serves %s from keygen's key file, first fetch %s after SIGHUP", b32, time.Since(start).Round(time.Millisecond))
	after, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, made) {
		t.Errorf("i2pd rewrote the key file (%d bytes → %d)", len(made), len(after))
	}
}

// Scenario e, second half: the key file i2pd created for the eepsite,
// parsed by router/data, gives the b32 i2pd serves (fetched through the
// proxy under that name), and re-serializes to the same bytes.
func TestI2pdKeysParseToServedB32(t *testing.T) {
	n := needNet(t)
	path := filepath.Join(n.Router(n.EepsiteRouter).Dir, testnet.EepsiteTunnel+".dat")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := data.LoadPrivateKeyFile(path)
	if err != nil {
		t.Fatalf("router/data cannot read i2pd's key file: %v", err)
	}
	dest := k.Destination()
	b32 := dest.B32()
	t.Logf("i2pd's %s: %d bytes, destination signing type %d, crypto type %d, b32 %s",
		filepath.Base(path), len(raw), dest.SigningType(), dest.CryptoType(), b32)
	if !bytes.Equal(k.Bytes(), raw) {
		t.Errorf("PrivateKeys.Bytes() differs from i2pd's file")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := n.WaitFetch(ctx, "http://"+strings.ToLower(b32)+"/", testnet.IndexMarker); err != nil {
		t.Fatalf("i2pd does not serve the eepsite under router/data's b32 %s (harness computed %s): %v", b32, n.EepsiteB32, err)
	}
}
