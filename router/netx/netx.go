// Package netx is the router's seam to the network: the two calls a router
// makes to reach other routers, listening for and dialling TCP streams,
// behind one small interface with three implementations.
//
//   - TCP is the operating system's network (net.ListenConfig, net.Dialer).
//   - Mem is an in-memory network: listeners are registered by address in a
//     table and connections are pairs of buffered in-memory pipes, so that a
//     whole network of routers can run inside one test process, with no
//     sockets, no ports and no root.
//   - Namespace (Linux) is the operating system's network inside a named
//     network namespace (ip netns), so that a test can put our router next
//     to real i2pd routers in a private network without moving the whole
//     process into it.
//
// Addresses are always "IP:port" strings, as NTCP2 publishes them (host and
// port options of a RouterAddress); Mem refuses host names for the same
// reason a RouterInfo cannot carry one.
package netx

import (
	"context"
	"errors"
	"net"
)

// Network opens stream connections. The method set mirrors
// net.ListenConfig.Listen and net.Dialer.DialContext so that both standard
// types are trivially wrapped, and so that a Network is an ntcp2.Dialer.
// Only the "tcp", "tcp4" and "tcp6" networks are meaningful.
type Network interface {
	// Listen announces on the local address ("IP:port"; port 0 picks one).
	Listen(ctx context.Context, network, address string) (net.Listener, error)
	// DialContext connects to address ("IP:port").
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Sentinel errors.
var (
	// ErrAddress reports an address that is not a literal IP and port.
	ErrAddress = errors.New("netx: address must be IP:port")
	// ErrNetwork reports a network other than tcp, tcp4 or tcp6.
	ErrNetwork = errors.New("netx: unsupported network")
	// ErrAddrInUse reports a Mem listen on an address that already has a
	// listener.
	ErrAddrInUse = errors.New("netx: address already in use")
	// ErrRefused reports a Mem dial to an address without a listener, or to
	// one that does not accept in time (a full backlog).
	ErrRefused = errors.New("netx: connection refused")
)

// TCP is the host's own network. The zero value is ready to use; set
// Dialer or ListenConfig fields (timeouts, keep-alive, Control) to tune it.
type TCP struct {
	Dialer       net.Dialer
	ListenConfig net.ListenConfig
}

// Listen implements Network with net.ListenConfig.
func (t *TCP) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	return t.ListenConfig.Listen(ctx, network, address)
}

// DialContext implements Network with net.Dialer.
func (t *TCP) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	return t.Dialer.DialContext(ctx, network, address)
}

func checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return &net.OpError{Op: "dial", Net: network, Err: ErrNetwork}
}

var (
	_ Network = (*TCP)(nil)
	_ Network = (*Mem)(nil)
)
