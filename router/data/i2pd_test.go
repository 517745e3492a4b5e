package data

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"i2pbridge/router/internal/i2pdtest"
)

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// i2pdConf is a router that can reach nothing: loopback only, private
// netid, no reseed, every client service off except the web console.
const i2pdConf = `log = file
logfile = %[1]s/i2pd.log
loglevel = info
netid = 99
ipv4 = true
ipv6 = false
address4 = 127.0.0.1
host = 127.0.0.1
nat = false
notransit = true
floodfill = false
[ntcp2]
enabled = true
published = false
port = %[2]d
[ssu2]
enabled = false
[http]
enabled = true
address = 127.0.0.1
port = %[3]d
[httpproxy]
enabled = false
[socksproxy]
enabled = false
[sam]
enabled = false
[bob]
enabled = false
[i2cp]
enabled = false
[i2pcontrol]
enabled = false
[upnp]
enabled = false
[reseed]
verify = false
urls =
yggurls =
[addressbook]
enabled = false
[meshnets]
yggdrasil = false
[precomputation]
elgamal = false
`

// TestI2pdAgreesOnKeyFiles runs a real i2pd with a key file of ours and
// two that i2pd creates itself: i2pd must show our b32 for our file, and we
// must compute the b32 i2pd shows for its files (ElGamal default and
// cryptotype 4) and round-trip them byte for byte.
func TestI2pdAgreesOnKeyFiles(t *testing.T) {
	bin := i2pdtest.Require(t, false)
	if testing.Short() {
		t.Skip("starts a real i2pd (about 5 s); -short only, never in CI (make test does not pass -short)")
	}
	dir := t.TempDir()
	httpPort, ntcpPort := freeLoopbackPort(t), freeLoopbackPort(t)
	targetPort := freeLoopbackPort(t) // never connected to: nobody reaches these tunnels

	ours := mustGenerate(t)
	if err := WritePrivateKeyFile(filepath.Join(dir, "ours.dat"), ours); err != nil {
		t.Fatal(err)
	}
	tunnels := fmt.Sprintf(`[ours]
type = server
host = 127.0.0.1
port = %[1]d
keys = ours.dat

[theirs-x25519]
type = server
host = 127.0.0.1
port = %[1]d
keys = theirs-x25519.dat
signaturetype = 7
cryptotype = 4

[theirs-default]
type = server
host = 127.0.0.1
port = %[1]d
keys = theirs-default.dat
`, targetPort)
	for name, content := range map[string]string{
		"i2pd.conf":    fmt.Sprintf(i2pdConf, dir, ntcpPort, httpPort),
		"tunnels.conf": tunnels,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	proc := i2pdtest.Start(t, exec.Command(bin, "--datadir="+dir, "--conf="+filepath.Join(dir, "i2pd.conf"),
		"--tunconf="+filepath.Join(dir, "tunnels.conf")), "")
	t.Logf("i2pd pid %d, console 127.0.0.1:%d, datadir %s", proc.Cmd.Process.Pid, httpPort, dir)
	stop := func() { proc.Stop(15 * time.Second) }
	t.Cleanup(stop)
	readLog := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "i2pd.log"))
		return string(b)
	}
	logTail := func() string {
		l := readLog()
		return l[max(0, len(l)-3000):]
	}

	// i2pd writes its key files before it creates the destinations.
	want := map[string]string{"ours.dat": ours.Destination().B32()}
	deadline := time.Now().Add(45 * time.Second)
	for _, name := range []string{"theirs-x25519.dat", "theirs-default.dat"} {
		path := filepath.Join(dir, name)
		for {
			raw, err := os.ReadFile(path)
			if err == nil {
				k, perr := ParsePrivateKeys(raw)
				if perr == nil {
					if string(k.Bytes()) != string(raw) {
						t.Fatalf("%s does not round-trip", name)
					}
					want[name] = k.Destination().B32()
					t.Logf("%s: sig %d crypto %d, %d bytes, %s", name, k.Destination().SigningType(), k.Destination().CryptoType(), len(raw), want[name])
					break
				}
				err = perr
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v\ni2pd log:\n%s", name, err, logTail())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	url := fmt.Sprintf("http://127.0.0.1:%d/?page=local_destinations", httpPort)
	var page string
	for {
		page = fetchPage(ctx, url)
		missing := 0
		for _, b32 := range want {
			if !strings.Contains(page, b32) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("console never listed all of %v\npage:\n%s\ni2pd log:\n%s", want, page, logTail())
		}
		time.Sleep(300 * time.Millisecond)
	}
	stop()

	log := readLog()
	if !strings.Contains(log, "Local address "+want["ours.dat"]+" loaded") {
		t.Errorf("i2pd log does not show our key file loaded as %s:\n%s", want["ours.dat"], logTail())
	}
	if strings.Contains(log, "EdDSA public key mismatch") {
		t.Errorf("i2pd found our Ed25519 seed and public key inconsistent")
	}
	for _, name := range []string{"theirs-x25519.dat", "theirs-default.dat"} {
		if !strings.Contains(log, name+" for "+want[name]+" created") {
			t.Errorf("i2pd log does not show %s created as %s", name, want[name])
		}
	}
	theirs, err := LoadPrivateKeyFile(filepath.Join(dir, "theirs-default.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if got := theirs.Destination().CryptoType(); got != CryptoTypeElGamal {
		t.Errorf("i2pd 2.45 default key file crypto type = %d, this package's docs say 0", got)
	}
}

func fetchPage(ctx context.Context, url string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
