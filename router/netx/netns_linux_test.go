//go:build linux

package netx

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// testNS is the namespace the netdb work may create (addresses in
// 198.19.1.0/24). The router package's i2pd test uses it too; both hold
// testLock while they do, so parallel package runs take turns.
const (
	testNS   = "i2pb-netdb"
	testLock = "/tmp/i2pb-netdb.lock"
)

// requireRoot skips without root and ip(8), or fails under CI=true.
func requireRoot(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "ip(8)")
	}
	if len(missing) > 0 {
		msg := "network namespace test needs " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (a failure when CI=true)")
	}
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// TestNamespaceSocketsLiveInTheNamespace listens and dials on an address
// that exists only inside a namespace of ours: it works through Namespace
// and fails from the host network.
func TestNamespaceSocketsLiveInTheNamespace(t *testing.T) {
	requireRoot(t)
	lock, err := os.OpenFile(testLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	exec.Command("ip", "netns", "del", testNS).Run() // a stale one from a killed run
	ipCmd(t, "netns", "add", testNS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", testNS).Run() })
	ipCmd(t, "-n", testNS, "link", "set", "lo", "up")
	ipCmd(t, "-n", testNS, "addr", "add", "198.19.1.250/32", "dev", "lo")

	ctx := context.Background()
	ns := &Namespace{Name: testNS}
	ln, err := ns.Listen(ctx, "tcp", "198.19.1.250:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("inside"))
			c.Close()
		}
	}()
	c, err := ns.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "inside" {
		t.Fatalf("read %q, %v", got, err)
	}
	var host TCP
	if _, err := host.Listen(ctx, "tcp", "198.19.1.250:0"); err == nil {
		t.Fatal("the host network could bind the namespace's address")
	}
	if err := (&Namespace{Name: "i2pb-netdb-missing"}).Do(func() error { return nil }); err == nil {
		t.Fatal("a missing namespace was entered")
	}
}
