package testnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestI2pdConfFollowsTestnetFacts(t *testing.T) {
	conf := i2pdConf(routerSpec{K: 3, Dir: "/run/x/router3", Floodfill: true, SAM: true, HTTPProxy: true})
	// Every line docs/testnet.md says a private i2pd 2.45.1 network needs.
	for _, want := range []string{
		"netid = 99", "reservedrange = false", "host = 198.18.0.3", "address4 = 198.18.0.3",
		"ipv6 = false", "nat = false", "floodfill = true", "loglevel = info",
		"[ntcp2]\nenabled = true\npublished = true\nport = 12343",
		"[ssu2]\nenabled = false",
		"[http]\nenabled = true\naddress = 127.0.0.1\nport = 7073",
		"[httpproxy]\nenabled = true\naddress = 127.0.0.1\nport = 4444", "keys = httpproxy-keys.dat",
		"[sam]\nenabled = true\naddress = 127.0.0.1\nport = 7658",
		"[socksproxy]\nenabled = false", "[bob]\nenabled = false", "[i2cp]\nenabled = false",
		"[i2pcontrol]\nenabled = false", "[upnp]\nenabled = false",
		"[reseed]\nverify = false\nurls =\nyggurls =",
		"[addressbook]\nenabled = true\ndefaulturl =\nsubscriptions =", "[nettime]\nenabled = false\nfrompeers = false",
		"[meshnets]\nyggdrasil = false", "logfile = /run/x/router3/i2pd.log",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("i2pd.conf lacks %q:\n%s", want, conf)
		}
	}
	plain := i2pdConf(routerSpec{K: 1, Dir: "/d", Debug: true})
	for _, want := range []string{"floodfill = false", "loglevel = debug", "[httpproxy]\nenabled = false", "[sam]\nenabled = false"} {
		if !strings.Contains(plain, want) {
			t.Errorf("i2pd.conf of a plain router lacks %q", want)
		}
	}
	// An address i2pd would try to reach outside the namespace.
	for _, bad := range []string{"http://", "https://", "pool.ntp.org"} {
		if strings.Contains(conf, bad) {
			t.Errorf("i2pd.conf mentions %q", bad)
		}
	}
}

func TestTunnelsConfHasOneSectionPerTunnel(t *testing.T) {
	got := tunnelsConf([]ServerTunnel{
		{Name: "eepsite", Keys: "eepsite.dat", Host: "127.0.0.1", Port: 8080},
		{Name: "keygen", Keys: "k.dat", Host: "127.0.0.1", Port: 8081},
	})
	for _, want := range []string{
		"[eepsite]\ntype = http\nhost = 127.0.0.1\nport = 8080\nkeys = eepsite.dat\ninbound.length = 1\noutbound.length = 0",
		"[keygen]\ntype = http\nhost = 127.0.0.1\nport = 8081\nkeys = k.dat\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("tunnels.conf lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "type = http"); n != 2 {
		t.Errorf("%d tunnel sections, want 2", n)
	}
}

// identity builds a KeysAndCert of 384 key bytes and a certificate with
// the given payload, followed by trailer (as in a RouterInfo).
func identity(certType byte, payload, trailer []byte) []byte {
	b := bytes.Repeat([]byte{0xab}, 384)
	b = append(b, certType, byte(len(payload)>>8), byte(len(payload)))
	b = append(b, payload...)
	return append(b, trailer...)
}

func TestIdentHashCoversOnlyTheIdentity(t *testing.T) {
	keyCert := []byte{0, 7, 0, 4} // Ed25519 signing, X25519 crypto
	id := identity(5, keyCert, nil)
	ri := identity(5, keyCert, []byte("rest of the RouterInfo"))
	h, err := identHash(ri)
	if err != nil {
		t.Fatal(err)
	}
	if h != sha256.Sum256(id) {
		t.Errorf("hash covers more than the 391-byte identity")
	}
	name := netDbName(h)
	b64 := i2pBase64.EncodeToString(h[:])
	if name != "r"+b64[:1]+"/routerInfo-"+b64+".dat" {
		t.Errorf("netDb name %q", name)
	}
	if strings.ContainsAny(b64, "+/") {
		t.Errorf("base64 %q uses the standard alphabet", b64)
	}
	for i := range id {
		if _, err := identHash(id[:i]); err == nil {
			t.Fatalf("identHash of %d-byte prefix: no error", i)
		}
	}
	b32, err := B32FromKeys(ri)
	if err != nil {
		t.Fatal(err)
	}
	if len(b32) != 52+len(".b32.i2p") || b32 != strings.ToLower(b32) || !strings.HasSuffix(b32, ".b32.i2p") {
		t.Errorf("b32 %q", b32)
	}
}

func TestBigFileIsDeterministic(t *testing.T) {
	a, b := BigFile(), BigFile()
	if len(a) != BigSize {
		t.Fatalf("%d bytes, want %d", len(a), BigSize)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two calls differ")
	}
	// Pinned so that a change to the generator is noticed: a running
	// `testnet up` and a newer checkout would serve different files.
	sum := sha256.Sum256(a)
	if got, want := hex.EncodeToString(sum[:]), pinnedBigSHA256; got != want {
		t.Errorf("sha256 %s, want %s", got, want)
	}
}

// Checked independently: sha256 of the concatenated SHA-256(label || be64(i)).
const pinnedBigSHA256 = "a85d2488d723389588b16e1df3729d73a6e2478a4109048287861b87a108ff79"

func TestEepsiteHandlerServesIndexAndRanges(t *testing.T) {
	big := BigFile()
	srv := httptest.NewServer(EepsiteHandler(big))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), IndexMarker) {
		t.Errorf("index: %d %q", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", srv.URL+BigPath, nil)
	req.Header.Set("Range", "bytes=1000-1999")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, big[1000:2000]) {
		t.Errorf("range: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, err = http.Get(srv.URL + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

func TestTailReturnsLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
		{"only", 1, "only"},
	} {
		if got := tail([]byte(tc.in), tc.n); got != tc.want {
			t.Errorf("tail(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestProcStatIdentifiesProcess(t *testing.T) {
	start, state, err := procStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if start == 0 || state == 'Z' {
		t.Errorf("own stat: start %d state %c", start, state)
	}
	p := &process{Pid: os.Getpid(), Start: start + 1}
	if p.alive() {
		t.Error("a pid with another start time counts as alive: a reused pid would be signalled")
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for _, c := range []Config{
		{RunDir: "relative"},
		{RunDir: "/"},
		{Detach: true},
	} {
		if err := c.defaults(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// The tests below need root and ip(8) (not i2pd): they create namespaces
// named i2pbt-unit-*.

func requireRootIP(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "ip(8)")
	}
	if len(missing) == 0 {
		return
	}
	msg := "needs " + strings.Join(missing, " and ") + " (as root: apt-get install -y i2pd iproute2)"
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true: " + msg)
	}
	t.Skip(msg + " (not CI: CI=true fails above)")
}

func TestNamespaceSocketsStayInside(t *testing.T) {
	requireRootIP(t)
	ctx := context.Background()
	name := "i2pbt-unit-sock"
	_ = deleteNamespace(ctx, name)
	if err := createNamespace(ctx, name, []string{RouterIP(1) + "/24"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNamespace(ctx, name) })
	ns := &Namespace{Name: name, spawner: newSpawner()}
	t.Cleanup(ns.spawner.close)

	ln, err := ns.Listen("tcp", "198.18.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := ns.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "hi" {
		t.Errorf("read %q through the namespace", got)
	}
	// The host namespace has no 198.18.0.1, so the same address must not
	// be reachable from this (unswitched) thread.
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("namespace listener reachable from the host namespace")
	}

	out, err := ns.Command("ip", "-4", "addr", "show", "dev", "lo").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "198.18.0.1/24") {
		t.Errorf("lo inside the namespace lacks 198.18.0.1/24:\n%s", out)
	}
}

func TestTeardownRemovesCrashedRun(t *testing.T) {
	requireRootIP(t)
	ctx := context.Background()
	cfg := Config{Namespace: "i2pbt-unit-stale", RunDir: filepath.Join(t.TempDir(), "run")}
	if err := Teardown(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := createNamespace(ctx, cfg.Namespace, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = deleteNamespace(ctx, cfg.Namespace) })
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(cfg.RunDir, markerFile), nil, 0o644)
	// A detached process inside the namespace, as a crashed `testnet up`
	// or test binary would leave one. Not in the state file: Teardown must
	// find it through the namespace.
	ns := &Namespace{Name: cfg.Namespace}
	cmd := ns.Command("sleep", "600")
	p, err := startProcess(ns, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopProcesses([]*process{p}, time.Second) })
	// ip joins the namespace just before it execs sleep; until then the
	// pid is not listed, as it would be for a long-running leftover.
	for deadline := time.Now().Add(5 * time.Second); ; {
		pids, err := namespacePids(ctx, cfg.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(pids, p.Pid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never appeared in the namespace (pids %v)", p.Pid, pids)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := Teardown(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if p.alive() {
		t.Error("process in the stale namespace still running")
	}
	if namespaceExists(cfg.Namespace) {
		t.Error("stale namespace still exists")
	}
	if _, err := os.Stat(cfg.RunDir); !os.IsNotExist(err) {
		t.Errorf("run dir still there: %v", err)
	}
}

func TestTeardownRefusesForeignDir(t *testing.T) {
	requireRootIP(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o644)
	err := Teardown(context.Background(), Config{Namespace: "i2pbt-unit-foreign", RunDir: dir})
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("Teardown of a dir without marker: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
		t.Errorf("foreign file removed: %v", err)
	}
}

func TestWriteConfigDisarmsAddressBook(t *testing.T) {
	r := &Router{K: 2, Dir: t.TempDir()}
	if err := r.writeConfig(routerSpec{K: 2, Dir: r.Dir, SAM: true}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"i2pd.conf", "tunnels.conf", "hosts.txt", "subscriptions.txt"} {
		b, err := os.ReadFile(filepath.Join(r.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "subscriptions.txt" || name == "hosts.txt" {
			// Only comments: an entry would be a subscription to fetch
			// or a name.
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if !strings.HasPrefix(line, "#") {
					t.Errorf("%s has an entry: %q", name, line)
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "tunnels.d")); err != nil {
		t.Error(err)
	}
}
