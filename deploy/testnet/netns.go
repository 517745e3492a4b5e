package testnet

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
	"sync"
	"syscall"
)

// Namespace is a Linux network namespace created by the harness. Nothing
// connects it to any other network: its only interface is its own lo, which
// carries 127.0.0.1 and the routers' 198.18.0.K addresses.
//
// Programs run inside it through `ip netns exec` (Command). The test process
// itself reaches into it by creating sockets from an OS thread that has
// joined the namespace (Listen, DialContext): a socket belongs to the
// namespace it was created in, whichever thread later reads or writes it.
// That lets tests host echo servers and the eepsite and dial tunnel
// listeners in-process, without helper processes to coordinate.
type Namespace struct {
	Name string

	// spawner starts every child from one locked OS thread, so that the
	// children's parent-death signal fires when this process dies and not
	// when some runtime thread happens to exit (Pdeathsig is tied to the
	// thread that forked). Nil for detached namespaces (testnet up), whose
	// processes must outlive the command that started them.
	spawner *spawner
}

const netnsDir = "/run/netns"

// nsPath is where `ip netns add` pins the namespace.
func nsPath(name string) string { return netnsDir + "/" + name }

// namespaceExists reports whether `ip netns add name` has been done.
func namespaceExists(name string) bool {
	_, err := os.Stat(nsPath(name))
	return err == nil
}

// ip runs the ip(8) tool and returns its combined output in the error.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// createNamespace adds the namespace, brings its lo up and puts addrs
// (CIDR notation) on lo. On lo a /24 makes the whole range local, so later
// users (our own routers) can bind further 198.18.0.x addresses.
func createNamespace(ctx context.Context, name string, addrs []string) error {
	if err := ip(ctx, "netns", "add", name); err != nil {
		return err
	}
	if err := ip(ctx, "-n", name, "link", "set", "lo", "up"); err != nil {
		return err
	}
	for _, a := range addrs {
		if err := ip(ctx, "-n", name, "addr", "add", a, "dev", "lo"); err != nil {
			return err
		}
	}
	return nil
}

// deleteNamespace removes the namespace; a missing one is not an error.
func deleteNamespace(ctx context.Context, name string) error {
	if !namespaceExists(name) {
		return nil
	}
	return ip(ctx, "netns", "del", name)
}

// namespacePids lists the processes living in the namespace (`ip netns pids`).
func namespacePids(ctx context.Context, name string) ([]int, error) {
	if !namespaceExists(name) {
		return nil, nil
	}
	out, err := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w", name, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("ip netns pids %s: bad pid %q", name, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// Command prepares `ip netns exec NS name args...`. ip execs the program
// in place, so cmd.Process.Pid is the program's own pid. The child gets its
// own process group so a terminal's ^C reaches only the harness, which then
// stops everything with SIGTERM (i2pd treats SIGINT as "wait up to 10 min
// for transit tunnels"). Start it with ns.Start.
func (ns *Namespace) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	attr := &syscall.SysProcAttr{Setpgid: true}
	if ns.spawner == nil {
		// Detached: a session of its own, so closing the terminal of
		// `testnet up` does not hang it up either.
		attr = &syscall.SysProcAttr{Setsid: true}
	} else {
		attr.Pdeathsig = syscall.SIGKILL
	}
	cmd.SysProcAttr = attr
	return cmd
}

// Start starts cmd (from Command); see Namespace.spawner for why it goes
// through one thread.
func (ns *Namespace) Start(cmd *exec.Cmd) error {
	if ns.spawner == nil {
		return cmd.Start()
	}
	return ns.spawner.start(cmd)
}

// Listen creates a listening socket inside the namespace, e.g. on the
// namespace's 127.0.0.1 where i2pd's server tunnels dial.
func (ns *Namespace) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := ns.do(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in netns %s: %w", network, addr, ns.Name, err)
	}
	return ln, nil
}

// DialContext connects from inside the namespace. Its signature fits
// http.Transport.DialContext.
func (ns *Namespace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s %s in netns %s: %w", network, addr, ns.Name, err)
	}
	return c, nil
}

// do runs f on an OS thread that has joined the namespace. The thread
// returns to its original namespace afterwards; if that fails it is left
// locked, and the runtime destroys it when the goroutine ends rather than
// reuse a thread in the wrong namespace.
func (ns *Namespace) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open(nsPath(ns.Name))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns: %w", err)
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns.Name, err)
			return
		}
		ferr := f()
		if err := setns(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return // still locked: the thread dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// spawner owns one locked OS thread that forks every child.
type spawner struct {
	mu     sync.Mutex
	closed bool
	reqs   chan spawnReq
	done   chan struct{}
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go func() {
		// Never unlocked: when close() ends this goroutine the thread
		// exits, which is fine because every child has been stopped by
		// then.
		runtime.LockOSThread()
		defer close(s.done)
		for r := range s.reqs {
			r.err <- r.cmd.Start()
		}
	}()
	return s
}

func (s *spawner) start(cmd *exec.Cmd) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("testnet: namespace closed")
	}
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	s.reqs <- r
	return <-r.err
}

func (s *spawner) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.reqs)
		<-s.done
	}
}

// setns moves the calling thread into the network namespace f refers to.
func setns(f *os.File) error {
	_, _, errno := syscall.Syscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
