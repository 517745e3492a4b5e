//go:build linux

package netx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespace is the host's network inside a named network namespace, the
// kind `ip netns add NAME` creates (bound at /run/netns/NAME). Sockets are
// created on an OS thread that has joined the namespace and stay in it
// after the thread returns, so the rest of the process keeps its own
// network. Needs CAP_SYS_ADMIN (root). Used to run our router next to real
// i2pd routers in a private test network (i2pd refuses NTCP2 from
// loopback and private ranges, so the network must use other addresses).
type Namespace struct {
	// Name is the namespace's name under /run/netns.
	Name string
	// TCP configures the sockets; the zero value is fine.
	TCP TCP
}

// Listen implements Network inside the namespace.
func (n *Namespace) Listen(ctx context.Context, network, address string) (ln net.Listener, err error) {
	err = n.Do(func() error {
		ln, err = n.TCP.Listen(ctx, network, address)
		return err
	})
	return ln, err
}

// DialContext implements Network inside the namespace.
func (n *Namespace) DialContext(ctx context.Context, network, address string) (c net.Conn, err error) {
	err = n.Do(func() error {
		c, err = n.TCP.DialContext(ctx, network, address)
		return err
	})
	return c, err
}

// Do runs f on an OS thread that has joined the namespace and waits for
// it. If the thread cannot return to the original namespace it stays
// locked, and the runtime discards it when its goroutine ends.
func (n *Namespace) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netx: namespace %s: %w", n.Name, err)
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", n.Name))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netx: namespace %s: %w", n.Name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netx: enter namespace %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("netx: leave namespace %s: %w", n.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

var _ Network = (*Namespace)(nil)
