package netx

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// memBacklog is how many dialled connections a Mem listener queues before
// further dials wait (the listen(2) backlog).
const memBacklog = 128

// firstEphemeralPort is where Mem starts handing out ports for port 0
// listens and for the source ports of dials.
const firstEphemeralPort = 20000

// Mem is an in-memory network. Listeners are registered by IP and port;
// a dial to an address finds its listener (or one on the unspecified
// address with the same port) and hands it one end of a buffered pipe.
// Any IP can be used without configuring anything, so N routers simply
// listen on N addresses. Safe for concurrent use; the zero value is not
// usable, call NewMem.
type Mem struct {
	// PipeBuffer is the per-direction buffer of new connections
	// (DefaultPipeBuffer when 0). Set it before use.
	PipeBuffer int

	mu        sync.Mutex
	listeners map[netip.AddrPort]*memListener
	nextPort  map[netip.Addr]uint16
}

// NewMem returns an empty in-memory network.
func NewMem() *Mem {
	return &Mem{listeners: map[netip.AddrPort]*memListener{}, nextPort: map[netip.Addr]uint16{}}
}

// memSource is the address Mem dials come from when the caller did not say
// (see From).
var memSource = netip.MustParseAddr("127.0.0.1")

// Listen implements Network.
func (m *Mem) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: fmt.Errorf("%w: %q", ErrAddress, address)}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ap.Port() == 0 {
		p, ok := m.freePortLocked(ap.Addr())
		if !ok {
			return nil, &net.OpError{Op: "listen", Net: network, Err: fmt.Errorf("%w: no free port on %s", ErrAddrInUse, ap.Addr())}
		}
		ap = netip.AddrPortFrom(ap.Addr(), p)
	}
	if _, ok := m.listeners[ap]; ok {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: ErrAddrInUse}
	}
	l := &memListener{m: m, addr: ap, queue: make(chan *memConn, memBacklog), done: make(chan struct{})}
	m.listeners[ap] = l
	return l, nil
}

// freePortLocked picks an unused port on a, cycling through the ephemeral
// range.
func (m *Mem) freePortLocked(a netip.Addr) (uint16, bool) {
	for range 65536 - firstEphemeralPort {
		p := m.nextPort[a]
		if p < firstEphemeralPort {
			p = firstEphemeralPort
		}
		next := p + 1
		if next == 0 {
			next = firstEphemeralPort
		}
		m.nextPort[a] = next
		if _, used := m.listeners[netip.AddrPortFrom(a, p)]; !used {
			return p, true
		}
	}
	return 0, false
}

// DialContext implements Network, dialling from 127.0.0.1.
func (m *Mem) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return m.dial(ctx, memSource, network, address)
}

// From returns a view of m whose dials come from src, as if the caller's
// host had that address; its listens are m's.
func (m *Mem) From(src netip.Addr) Network { return &memHost{m: m, src: src} }

type memHost struct {
	m   *Mem
	src netip.Addr
}

func (h *memHost) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return h.m.Listen(ctx, network, address)
}

func (h *memHost) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return h.m.dial(ctx, h.src, network, address)
}

func (m *Mem) dial(ctx context.Context, src netip.Addr, network, address string) (net.Conn, error) {
	if err := checkNetwork(network); err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("%w: %q", ErrAddress, address)}
	}
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(err)
	}
	m.mu.Lock()
	l := m.listeners[ap]
	if l == nil {
		any := netip.IPv4Unspecified()
		if ap.Addr().Is6() {
			any = netip.IPv6Unspecified()
		}
		l = m.listeners[netip.AddrPortFrom(any, ap.Port())]
	}
	var srcPort uint16
	if l != nil {
		srcPort, _ = m.freePortLocked(src)
	}
	size := m.PipeBuffer
	m.mu.Unlock()
	if l == nil {
		return nil, opErr(ErrRefused)
	}
	if size <= 0 {
		size = DefaultPipeBuffer
	}
	client, server := newPipe(net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, srcPort)), net.TCPAddrFromAddrPort(ap), size)
	select {
	case l.queue <- server:
		// Close drains the queue after marking done; a connection that
		// slipped in after the drain is refused here instead.
		if isClosed(l.done) {
			server.Close()
			return nil, opErr(ErrRefused)
		}
		return client, nil
	case <-l.done:
		return nil, opErr(ErrRefused)
	case <-ctx.Done():
		return nil, opErr(ctx.Err())
	}
}

// memListener is a Mem listening address.
type memListener struct {
	m         *Mem
	addr      netip.AddrPort
	queue     chan *memConn
	done      chan struct{}
	closeOnce sync.Once
}

// Accept implements net.Listener.
func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.queue:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
}

// Close implements net.Listener: the address is free again and
// connections not yet accepted are closed (their dialers read EOF).
func (l *memListener) Close() error {
	first := false
	l.closeOnce.Do(func() {
		first = true
		l.m.mu.Lock()
		if l.m.listeners[l.addr] == l {
			delete(l.m.listeners, l.addr)
		}
		close(l.done)
		l.m.mu.Unlock()
		for {
			select {
			case c := <-l.queue:
				c.Close()
			default:
				return
			}
		}
	})
	if !first {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	return nil
}

// Addr implements net.Listener.
func (l *memListener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }
