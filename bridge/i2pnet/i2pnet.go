// Package i2pnet is the seam between the tunnel supervisor (and the proxies)
// and whatever carries I2P streams: the bundled router or an external router
// reached over SAM. Tunnel kinds and proxies depend only on this package, so
// they are tested against the in-memory fake in i2pnettest and run unchanged
// on either backend.
//
// A Network hands out Sessions; a Session is one local destination (its keys
// and tunnel pools) that can dial other destinations, accept streams and
// resolve names. Backends hide reconnection: a Session stays usable while the
// backend re-creates it underneath (Dial waits or fails with the ctx, Accept
// keeps blocking), so a router restart never surfaces to a tunnel as a fatal
// error.
package i2pnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"i2pbridge/router/data"
)

// Errors a backend returns so tunnels and proxies can tell the user what
// happened (the eepproxy maps them to error pages).
var (
	// ErrUnknownName: a name that no address book or lookup resolved.
	ErrUnknownName = errors.New("i2pnet: unknown name")
	// ErrUnreachable: the destination is known but could not be reached
	// (no leaseset found, peer did not answer).
	ErrUnreachable = errors.New("i2pnet: destination unreachable")
	// ErrClosed: the session or network was closed by its owner.
	ErrClosed = errors.New("i2pnet: closed")
)

// Network opens local destinations.
type Network interface {
	// Open creates (or, for a backend that reconnects, keeps re-creating) a
	// local destination. It returns once the destination is usable: tunnels
	// are built and, for servers, the leaseset is published.
	Open(ctx context.Context, cfg SessionConfig) (Session, error)
	// Close closes every session opened on this network.
	Close() error
}

// SessionConfig describes one local destination.
type SessionConfig struct {
	// Name is used in logs and as the backend's session nickname.
	Name string
	// Keys are the destination's private keys. A nil Keys asks for a
	// transient destination; the backend keeps it for the lifetime of the
	// Session (also across reconnects).
	Keys *data.PrivateKeys
	// Options are I2CP-style tunnel options passed to the router as they
	// are, e.g. "inbound.length": "3", "outbound.quantity": "2".
	Options map[string]string
}

// Session is one local destination.
type Session interface {
	// Addr is this destination (its b32 and full Destination).
	Addr() Addr
	// Dial opens a stream to address: "name.i2p", "xxx.b32.i2p", or a
	// base64 Destination, each with an optional ":port".
	Dial(ctx context.Context, address string) (net.Conn, error)
	// Listen returns the listener for streams arriving at this
	// destination. It may be called once per Session; closing the listener
	// does not close the Session.
	Listen() (net.Listener, error)
	// Resolve turns a name (hosts-file name, b32 or base64) into a
	// Destination.
	Resolve(ctx context.Context, name string) (data.Destination, error)
	// Close tears the destination down; open streams are closed.
	Close() error
}

// Addr is an I2P stream endpoint: net.Conn.RemoteAddr of an accepted stream
// is the caller's Addr, LocalAddr is ours.
type Addr struct {
	Dest data.Destination
	Port int // 0 when the backend does not carry ports
}

// Network returns "i2p".
func (a Addr) Network() string { return "i2p" }

// String returns the b32 address, with ":port" when a port is set.
func (a Addr) String() string {
	s := a.Dest.B32()
	if a.Port != 0 {
		s += ":" + strconv.Itoa(a.Port)
	}
	return s
}

// SplitPort cuts an optional ":port" off an I2P address as Dial takes it;
// base64 and host names never contain ':'. A bad port is ErrUnknownName.
func SplitPort(address string) (host string, port int, err error) {
	i := strings.LastIndexByte(address, ':')
	if i < 0 {
		return address, 0, nil
	}
	port, err = strconv.Atoi(address[i+1:])
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%w: bad port in %q", ErrUnknownName, address)
	}
	return address[:i], port, nil
}
