package protect

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/config"
	"i2pbridge/router/data"
)

// EndpointConfig describes the I2P side of one server tunnel.
type EndpointConfig struct {
	Tunnel  config.Tunnel
	Network i2pnet.Network
	// Datadir receives <name>.b32; "" skips the file.
	Datadir string
	Logger  *slog.Logger // nil = discard
	Rand    io.Reader    // key generation; nil = crypto/rand
	Guard   *Guard       // required
	// Refuse, when set, answers refused streams (see Refuser).
	Refuse Refuser
}

// Endpoint is the I2P half of a server tunnel: it loads or creates the
// keys, opens the destination, writes <datadir>/<name>.b32 (atomically, so
// scripts never read half an address) and listens through the Guard.
// Open and Close follow the supervisor's lifecycle and may repeat;
// Address may be called concurrently.
type Endpoint struct {
	cfg EndpointConfig
	log *slog.Logger

	mu      sync.Mutex
	session i2pnet.Session
	b32     string
}

// NewEndpoint checks cfg; nothing is opened until Open.
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	t := cfg.Tunnel
	switch {
	case cfg.Network == nil:
		return nil, fmt.Errorf("%w: no network", ErrConfig)
	case cfg.Guard == nil:
		return nil, fmt.Errorf("%w: no guard", ErrConfig)
	case t.Name == "" || filepath.Base(t.Name) != t.Name || t.Name == "." || t.Name == "..":
		return nil, fmt.Errorf("%w: name %q cannot name a file", ErrConfig, t.Name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return &Endpoint{cfg: cfg, log: cfg.Logger.With("tunnel", t.Name)}, nil
}

// Open opens the destination and returns its guarded listener. On error
// nothing stays open.
func (e *Endpoint) Open(ctx context.Context) (net.Listener, error) {
	t := e.cfg.Tunnel
	sc := i2pnet.SessionConfig{Name: t.Name, Options: t.I2CPOptions()}
	if t.Keys != "" {
		k, created, err := data.LoadOrCreatePrivateKeyFile(t.Keys, e.cfg.Rand)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		if created {
			e.log.Info("created keys file", "path", t.Keys)
		}
		sc.Keys = &k
	}
	s, err := e.cfg.Network.Open(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	ln, err := s.Listen()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("listen on i2p: %w", err)
	}
	b32 := s.Addr().Dest.B32()
	if err := e.writeB32(b32); err != nil {
		ln.Close()
		s.Close()
		return nil, err
	}
	e.mu.Lock()
	e.session, e.b32 = s, b32
	e.mu.Unlock()
	return e.cfg.Guard.Listener(ln, e.cfg.Refuse), nil
}

// writeB32 replaces <datadir>/<name>.b32 through a temp file and a rename.
func (e *Endpoint) writeB32(b32 string) error {
	dir := e.cfg.Datadir
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write b32 file: %w", err)
	}
	name := e.cfg.Tunnel.Name
	f, err := os.CreateTemp(dir, "."+name+".b32.*")
	if err != nil {
		return fmt.Errorf("write b32 file: %w", err)
	}
	tmp := f.Name()
	_, err = f.WriteString(b32 + "\n")
	err = errors.Join(err, f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name+".b32"))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write b32 file: %w", err)
	}
	return nil
}

// Address is the b32 of the open destination, "" when closed.
func (e *Endpoint) Address() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.b32
}

// Close closes the destination (and with it the listener and its streams).
func (e *Endpoint) Close() error {
	e.mu.Lock()
	s := e.session
	e.session, e.b32 = nil, ""
	e.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close()
}
