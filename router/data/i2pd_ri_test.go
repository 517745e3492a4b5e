package data

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"i2pbridge/router/internal/i2pdtest"
)

// storedZip writes a zip of uncompressed entries whose local headers carry
// the sizes. i2pd's zip reader (Reseeder::ProcessZIPStream) mishandles data
// descriptors on stored entries, so archive/zip's streaming Create is not
// usable here.
func storedZip(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name:               name,
			Method:             zip.Store,
			CRC32:              crc32.ChecksumIEEE(data),
			CompressedSize64:   uint64(len(data)),
			UncompressedSize64: uint64(len(data)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestI2pdAcceptsOurRouterInfos starts a real i2pd (loopback, netid 99) with
// three RouterInfos we built and signed:
//   - one in its netDb directory under RouterInfoPath: i2pd's file loader
//     parses it (netId, router.version, an NTCP2 address) but does not check
//     signatures, and deletes what it rejects;
//   - one in a reseed zip: i2pd's reseed path (NetDb::AddRouterInfo)
//     verifies the signature and logs "RouterInfo added";
//   - one in the same zip with a corrupted signature, as the control that
//     the zip path really verifies.
//
// It also parses and verifies the router.info i2pd writes for itself,
// whose identity must be its router.keys and whose NTCP2 s must be the
// static key from its ntcp2.keys.
func TestI2pdAcceptsOurRouterInfos(t *testing.T) {
	bin := i2pdtest.Require(t, false)
	if testing.Short() {
		t.Skip("starts a real i2pd (about 5 s); -short only, never in CI (make test does not pass -short)")
	}
	dir := t.TempDir()
	httpPort, ntcpPort := freeLoopbackPort(t), freeLoopbackPort(t)

	build := func() RouterInfo {
		t.Helper()
		keys, err := GenerateRouterKeys(cryptoRand{})
		if err != nil {
			t.Fatal(err)
		}
		var n NTCP2Address
		if _, err := cryptoRand.Read(cryptoRand{}, n.StaticKey[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := cryptoRand.Read(cryptoRand{}, n.IV[:]); err != nil {
			t.Fatal(err)
		}
		// Nothing listens on this port: i2pd's dial attempts fail harmlessly.
		n.AddrPort = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(freeLoopbackPort(t)))
		p := testRouterInfoParams(t, 1)
		if p.Addresses[0], err = NewNTCP2Address(n); err != nil {
			t.Fatal(err)
		}
		ri, err := BuildRouterInfo(keys, p)
		if err != nil {
			t.Fatal(err)
		}
		return ri
	}
	fileRI, zipRI, badRI := build(), build(), build()
	bad := badRI.Bytes()
	bad[len(bad)-1] ^= 0x01

	netDb := filepath.Join(dir, "netDb")
	filePath := RouterInfoPath(netDb, fileRI.Hash())
	if err := os.MkdirAll(filepath.Dir(filePath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filePath, fileRI.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(dir, "seed.zip")
	if err := os.WriteFile(zipPath, storedZip(t, map[string][]byte{"ours.dat": zipRI.Bytes(), "bad.dat": bad}), 0o644); err != nil {
		t.Fatal(err)
	}
	// A second [reseed] section adds to the one in i2pdConf (boost's INI
	// parser merges sections).
	conf := fmt.Sprintf(i2pdConf, dir, ntcpPort, httpPort) + "[reseed]\nzipfile = " + zipPath + "\n"
	if err := os.WriteFile(filepath.Join(dir, "i2pd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	proc := i2pdtest.Start(t, exec.Command(bin, "--datadir="+dir, "--conf="+filepath.Join(dir, "i2pd.conf")), "")
	t.Logf("i2pd pid %d, console 127.0.0.1:%d, datadir %s", proc.Cmd.Process.Pid, httpPort, dir)
	stop := func() { proc.Stop(15 * time.Second) }
	t.Cleanup(stop)
	readLog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "i2pd.log"))
		return string(b)
	}
	logTail := func() string {
		l := readLog()
		return l[max(0, len(l)-4000):]
	}

	added := "NetDb: RouterInfo added: " + zipRI.Hash().Base64()
	const sigFailed = "RouterInfo: Signature verification failed"
	deadline := time.Now().Add(45 * time.Second)
	var ident string
	for {
		log := readLog()
		if ident == "" {
			page := fetchPage(ctx, fmt.Sprintf("http://127.0.0.1:%d/", httpPort))
			if _, rest, ok := strings.Cut(page, "Router Ident:</b> "); ok && len(rest) >= 44 {
				ident = rest[:44]
			}
		}
		if strings.Contains(log, added) && strings.Contains(log, sigFailed) && ident != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("i2pd never logged %q and %q (console ident %q)\ni2pd log:\n%s", added, sigFailed, ident, logTail())
		}
		time.Sleep(300 * time.Millisecond)
	}
	stop()
	log := readLog()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "NetDb:") || strings.Contains(line, "RouterInfo") || strings.Contains(line, "Reseed:") {
			t.Log(line)
		}
	}

	if !strings.Contains(log, "NetDb: 1 routers loaded") {
		t.Errorf("i2pd did not load our netDb file %s:\n%s", filePath, logTail())
	}
	if strings.Contains(log, "is invalid or too old") {
		t.Errorf("i2pd rejected our netDb file:\n%s", logTail())
	}
	if _, err := os.Stat(filePath); err != nil {
		t.Errorf("our netDb file is gone: %v", err)
	}
	if strings.Contains(log, "RouterInfo added: "+badRI.Hash().Base64()) {
		t.Errorf("i2pd accepted the RouterInfo with a corrupted signature: the zip path does not prove verification")
	}
	if n := strings.Count(log, sigFailed); n != 1 {
		t.Errorf("i2pd logged %d signature failures, want 1 (the corrupted control only)", n)
	}

	// i2pd's own RouterInfo, written during this run.
	raw, err := os.ReadFile(filepath.Join(dir, "router.info"))
	if err != nil {
		t.Fatal(err)
	}
	ri, n, err := ParseRouterInfo(raw)
	if err != nil || n != len(raw) {
		t.Fatalf("i2pd's router.info: %d of %d bytes, %v", n, len(raw), err)
	}
	if err := ri.Verify(); err != nil {
		t.Fatalf("i2pd's router.info: %v", err)
	}
	if ri.Hash().Base64() != ident {
		t.Errorf("router.info hash %s, i2pd's console shows %s", ri.Hash(), ident)
	}
	keysRaw, err := os.ReadFile(filepath.Join(dir, "router.keys"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseRouterKeys(keysRaw)
	if err != nil {
		t.Fatalf("i2pd's fresh router.keys: %v", err)
	}
	if keys.Identity() != ri.Identity() {
		t.Error("router.keys and router.info identities differ")
	}
	if id, err := ri.NetID(); err != nil || id != 99 {
		t.Errorf("netId = %d, %v", id, err)
	}
	ntcp2Keys, err := os.ReadFile(filepath.Join(dir, "ntcp2.keys"))
	if err != nil || len(ntcp2Keys) != 80 {
		t.Fatalf("ntcp2.keys: %d bytes, %v", len(ntcp2Keys), err)
	}
	found := false
	for _, a := range ri.Addresses() {
		if a.Transport != TransportNTCP2 {
			continue
		}
		found = true
		// i2pdConf has "[ntcp2] published = false": i2pd writes an
		// unpublished address, cost 14, caps 4, s and v only.
		nt, err := a.NTCP2()
		if err != nil {
			t.Fatal(err)
		}
		if nt.Published() || a.Cost != NTCP2CostUnpublished || nt.Caps != "4" || !bytes.Equal(nt.StaticKey[:], ntcp2Keys[:32]) {
			t.Errorf("i2pd's NTCP2 address %v: cost %d, %+v", a.Options, a.Cost, nt)
		}
		ours, err := NewNTCP2Address(NTCP2Address{StaticKey: nt.StaticKey})
		if err != nil {
			t.Fatal(err)
		}
		ob, _ := ours.Append(nil)
		ib, _ := a.Append(nil)
		if !bytes.Equal(ob, ib) {
			t.Errorf("our unpublished NTCP2 address differs from i2pd's\nours %x\ni2pd %x", ob, ib)
		}
	}
	if !found {
		t.Errorf("i2pd's router.info has no NTCP2 address: %v", ri.Addresses())
	}
	t.Logf("i2pd loaded our netDb file, verified and added %s from the zip, refused the corrupted one; its own RI %s (%d bytes) verifies", zipRI.Hash().Short(), ri.Hash().Short(), len(raw))
}
