//go:build linux

package tunnel

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

// testNS is a network namespace this test creates for itself: lo up with
// the test's /24 on it, connected to nothing else. The test process makes
// sockets in it from an OS thread that has joined it (a socket stays in
// the namespace it was created in); i2pd runs in it through ip netns exec.
type testNS struct{ name string }

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// deleteNS kills what is left in a namespace of ours (a crashed earlier
// run) and removes it.
func deleteNS(name string) error {
	if _, err := os.Stat("/run/netns/" + name); err != nil {
		return nil
	}
	out, _ := exec.Command("ip", "netns", "pids", name).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return ipCmd("netns", "del", name)
}

func newTestNS(t *testing.T, name, cidr string) *testNS {
	t.Helper()
	if err := deleteNS(name); err != nil {
		t.Fatal(err)
	}
	if err := ipCmd("netns", "add", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := deleteNS(name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := ipCmd("-n", name, "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	if err := ipCmd("-n", name, "addr", "add", cidr, "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	return &testNS{name: name}
}

// do runs f on an OS thread inside the namespace. A thread that cannot
// get back stays locked and dies with its goroutine.
func (ns *testNS) do(f func() error) error {
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
			errc <- err
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func (ns *testNS) listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := ns.do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// DialContext makes testNS an ntcp2.Dialer.
func (ns *testNS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// command prepares a program to run in the namespace; ip execs it in
// place, so its pid is the program's, and it dies with the test.
func (ns *testNS) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// stopProcess sends SIGTERM (i2pd stops in about 2 s; SIGINT would wait
// for its transit tunnels) and SIGKILL after grace.
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

// lockFile serialises runs that use the same namespace name.
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
