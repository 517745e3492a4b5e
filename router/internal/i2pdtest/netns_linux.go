package i2pdtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"i2pbridge/router/netx"
)

// Namespace is a network namespace a test creates for itself: its lo is up
// and carries the test's addresses (a /24 on lo makes the whole range
// local, so other addresses in it can be bound). Nothing connects it to
// any other network. The test process reaches into it by creating sockets
// on an OS thread that has joined it (a socket stays in the namespace it
// was made in): Listen, DialContext (which makes it an ntcp2.Dialer) and
// Do are netx.Namespace's. i2pd runs in it through Command.
type Namespace struct{ netx.Namespace }

func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// RemoveNamespace kills what still runs in a namespace of ours (a previous
// run that died) and deletes it; a missing namespace is no error.
func RemoveNamespace(name string) error {
	if _, err := os.Stat("/run/netns/" + name); err != nil {
		return nil
	}
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := runIP("netns", "del", name); err != nil {
		if _, serr := os.Stat("/run/netns/" + name); errors.Is(serr, os.ErrNotExist) {
			return nil // another run's cleanup removed it meanwhile
		}
		return err
	}
	return nil
}

// NewNamespace creates the namespace (replacing a stale one of the same
// name) with addrs (CIDR) on its lo, and removes it when the test ends.
func NewNamespace(t testing.TB, name string, addrs ...string) *Namespace {
	t.Helper()
	if err := RemoveNamespace(name); err != nil {
		t.Fatal(err)
	}
	if err := runIP("netns", "add", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := RemoveNamespace(name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := runIP("-n", name, "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if err := runIP("-n", name, "addr", "add", a, "dev", "lo"); err != nil {
			t.Fatal(err)
		}
	}
	return &Namespace{netx.Namespace{Name: name}}
}

// Command prepares a program to run inside the namespace. ip execs it in
// place, so the pid is the program's own; it dies with the test process.
func (ns *Namespace) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// LockFile holds an exclusive lock on path until the test ends. It
// serializes tests that use the same fixed namespace across processes (go
// test runs packages in parallel; two runs at once would fight over the
// name).
func LockFile(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	})
}
