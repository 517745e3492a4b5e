package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"i2pbridge/router/data"
)

var b32RE = regexp.MustCompile(`^[a-z2-7]{52}\.b32\.i2p$`)

// lastLine is what a script takes from keygen's output.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestKeygenWritesKeysAndPrintsTheirAddress(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.dat")
	code, stdout, stderr := cli(t, "keygen", "-o", path)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if want := "wrote " + path + "\n"; !strings.HasPrefix(stdout, want) {
		t.Errorf("stdout = %q, want it to start with %q", stdout, want)
	}
	addr := lastLine(stdout)
	if !b32RE.MatchString(addr) {
		t.Fatalf("last line %q is not a b32 address", addr)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	k, err := data.LoadPrivateKeyFile(path)
	if err != nil {
		t.Fatalf("key file does not load: %v", err)
	}
	if got := k.Destination().B32(); got != addr {
		t.Errorf("printed %s, but the file's destination is %s", addr, got)
	}
	if st, ct := k.Destination().SigningType(), k.Destination().CryptoType(); st != 7 || ct != 4 {
		t.Errorf("key types = signing %d, crypto %d; want Ed25519 (7) and X25519 (4)", st, ct)
	}
}

func TestKeygenRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.dat")
	code, first, _ := cli(t, "keygen", "-o", path)
	if code != 0 {
		t.Fatal("first keygen failed")
	}
	before, _ := os.ReadFile(path)

	code, stdout, stderr := cli(t, "keygen", "-o", path)
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing (a script must not pick up an address)", stdout)
	}
	if want := "i2pbridge keygen: " + path + " exists; use -f to replace it"; !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr = %q, want it to start with %q", stderr, want)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the existing key file changed")
	}

	code, second, stderr := cli(t, "keygen", "-f", "-o", path)
	if code != 0 || stderr != "" {
		t.Fatalf("keygen -f: exit %d, stderr %q", code, stderr)
	}
	if lastLine(second) == lastLine(first) {
		t.Error("keygen -f printed the old address")
	}
	k, err := data.LoadPrivateKeyFile(path)
	if err != nil || k.Destination().B32() != lastLine(second) {
		t.Errorf("after -f the file holds %v (err %v), want the new address %s", k.Destination().B32(), err, lastLine(second))
	}
}

func TestKeygenReportsWriteErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "web.dat")
	code, stdout, stderr := cli(t, "keygen", "-o", path)
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "i2pbridge keygen: write keys: ") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, a write error", code, stdout, stderr)
	}
}
