//go:build linux

package ntcp2

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testNamespace is a network namespace this test file creates for itself:
// its lo is up and carries addrs (a /24 on lo makes the whole range local,
// so other addresses in it can be bound). Nothing connects it to any other
// network. The test process reaches into it by creating sockets on an OS
// thread that has joined it; a socket stays in the namespace it was made in.
type testNamespace struct {
	name string
}

func runIP(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func nsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// removeNamespace kills what still runs in a namespace of ours (a previous
// run of this test that died) and deletes it.
func removeNamespace(name string) error {
	if !nsExists(name) {
		return nil
	}
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return runIP("netns", "del", name)
}

// newTestNamespace creates the namespace (replacing a stale one of the same
// name) and removes it when the test ends.
func newTestNamespace(t *testing.T, name string, addrs ...string) *testNamespace {
	t.Helper()
	if err := removeNamespace(name); err != nil {
		t.Fatal(err)
	}
	if err := runIP("netns", "add", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeNamespace(name); err != nil {
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
	return &testNamespace{name: name}
}

// do runs f on an OS thread inside the namespace. If the thread cannot
// return to its own namespace it stays locked and the runtime discards it
// when the goroutine ends.
func (ns *testNamespace) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns.name)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func (ns *testNamespace) listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := ns.do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// DialContext makes testNamespace a Dialer for Dial.
func (ns *testNamespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// command prepares a program to run inside the namespace. ip execs it in
// place, so the pid is the program's own; it dies with the test process.
func (ns *testNamespace) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// stopProcess sends SIGTERM (i2pd stops in about 2 s; SIGINT would wait for
// transit tunnels) and SIGKILL after grace.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// lockFile serializes tests that use the same fixed namespace across
// processes (go test runs packages in parallel; two runs at once would
// fight over the name).
func lockFile(t *testing.T, path string) {
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
