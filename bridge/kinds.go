package bridge

import (
	"context"
	"io"
	"log/slog"

	"i2pbridge/bridge/httpserver"
	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/irctunnel"
	"i2pbridge/bridge/relay"
	"i2pbridge/bridge/tcptunnel"
	"i2pbridge/config"
	"i2pbridge/proxy/httpproxy"
	"i2pbridge/proxy/outproxy"
)

// Tunnel is the lifecycle every tunnel kind implements; the supervisor
// drives it from one goroutine per tunnel, so implementations need no
// locking between these calls (Address and ListenAddr are called from
// Status concurrently and must be safe for that).
//
//	Open ──ok──> Serve ──returns──> Close ──(backoff)──> Open ...
//	  └─error: nothing stays open
type Tunnel interface {
	// Open acquires everything that can fail at start (keys, local
	// listener, I2P session) and returns once the tunnel is usable. On
	// error nothing stays open. It may be called again after Close.
	Open(ctx context.Context) error
	// Serve runs the tunnel until ctx ends (then it returns nil) or the
	// tunnel breaks (then the error). Connections it accepted are closed
	// and their goroutines finished when it returns.
	Serve(ctx context.Context) error
	// Close releases what Open acquired.
	Close() error
	// Address is the b32 of the tunnel's destination while open, else "".
	Address() string
	// ListenAddr is the bound local address of client kinds, "" for
	// servers.
	ListenAddr() string
}

// Params is what a Constructor gets for one tunnel.
type Params struct {
	Tunnel  config.Tunnel
	Network i2pnet.Network
	Datadir string       // router.datadir: where server kinds write <name>.b32
	Logger  *slog.Logger // never nil
	Rand    io.Reader    // never nil
	// Counters are owned by the supervisor and read by Status; the kind
	// updates them (relay.Run does the bytes).
	Counters *relay.Counters
}

// Constructor checks one tunnel definition and builds its Tunnel without
// opening anything.
type Constructor func(Params) (Tunnel, error)

// DefaultKinds returns the constructors of all built-in tunnel types. A new
// kind plugs in with one line here.
func DefaultKinds() map[string]Constructor {
	return map[string]Constructor{
		tcptunnel.TypeServer: func(p Params) (Tunnel, error) { return asTunnel(tcptunnel.NewServer(tcpConfig(p))) },
		tcptunnel.TypeClient: func(p Params) (Tunnel, error) { return asTunnel(tcptunnel.NewClient(tcpConfig(p))) },
		httpserver.Type:      func(p Params) (Tunnel, error) { return asTunnel(httpserver.New(httpConfig(p))) },
		irctunnel.TypeServer: func(p Params) (Tunnel, error) { return asTunnel(irctunnel.NewServer(ircConfig(p))) },
		irctunnel.TypeClient: func(p Params) (Tunnel, error) { return asTunnel(irctunnel.NewClient(ircConfig(p))) },
		httpproxy.Type: func(p Params) (Tunnel, error) {
			return asTunnel(httpproxy.NewTunnel(httpproxy.TunnelConfig{Tunnel: p.Tunnel, Network: p.Network, Datadir: p.Datadir, Logger: p.Logger, Rand: p.Rand, Counters: p.Counters}))
		},
		outproxy.Type: func(p Params) (Tunnel, error) {
			return asTunnel(outproxy.NewServer(outproxy.Config{Tunnel: p.Tunnel, Network: p.Network, Datadir: p.Datadir, Logger: p.Logger, Rand: p.Rand, Counters: p.Counters}))
		},
	}
}

// asTunnel turns a kind's (*T, error) into (Tunnel, error) without the
// typed-nil trap (a nil *T in a non-nil interface).
func asTunnel[T Tunnel](t T, err error) (Tunnel, error) {
	if err != nil {
		return nil, err
	}
	return t, nil
}

func tcpConfig(p Params) tcptunnel.Config {
	return tcptunnel.Config{
		Tunnel:   p.Tunnel,
		Network:  p.Network,
		Datadir:  p.Datadir,
		Logger:   p.Logger,
		Rand:     p.Rand,
		Counters: p.Counters,
	}
}

func httpConfig(p Params) httpserver.Config {
	return httpserver.Config{Tunnel: p.Tunnel, Network: p.Network, Datadir: p.Datadir, Logger: p.Logger, Rand: p.Rand, Counters: p.Counters}
}

func ircConfig(p Params) irctunnel.Config {
	return irctunnel.Config{Tunnel: p.Tunnel, Network: p.Network, Datadir: p.Datadir, Logger: p.Logger, Rand: p.Rand, Counters: p.Counters}
}

// rejecter is implemented by the server kinds protected by bridge/protect:
// the streams and requests they refused, by reason.
type rejecter interface{ Rejected() map[string]uint64 }

// rejectedBy is t's refusal counts for Status (nil for kinds that refuse
// nothing).
func rejectedBy(t Tunnel) map[string]uint64 {
	if r, ok := t.(rejecter); ok {
		return r.Rejected()
	}
	return nil
}
