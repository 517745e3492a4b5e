package control

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors Listen returns, so the caller can tell the user what to do.
var (
	// ErrInUse: something answers at the endpoint already, most likely
	// another i2pbridge run with the same config.
	ErrInUse = errors.New("control: endpoint already in use")
	// ErrNotLoopback: a TCP endpoint must be on a loopback address.
	ErrNotLoopback = errors.New("control: endpoint is not a loopback address")
	// ErrPathTooLong: the unix socket path does not fit in sockaddr_un.
	ErrPathTooLong = errors.New("control: unix socket path too long")
)

// maxUnixPath is the longest pathname a unix socket can be bound to: the
// size of sockaddr_un.sun_path (108 on Linux, 104 on the BSDs and macOS)
// less the terminating NUL. Longer paths fail in bind(2) with a bare
// "invalid argument", so we check first and say what is wrong.
var maxUnixPath = len(syscall.RawSockaddrUnix{}.Path) - 1

// probeTimeout bounds the dial that tells a live socket from a stale one.
const probeTimeout = time.Second

// ParseEndpoint splits a config `control` value into a net.Dial network and
// address: "unix:PATH" gives ("unix", PATH); anything else must be a
// "host:port" and gives ("tcp", host:port). It checks the form only; Listen
// checks that the host is loopback.
func ParseEndpoint(endpoint string) (network, address string, err error) {
	if path, ok := strings.CutPrefix(endpoint, "unix:"); ok {
		if path == "" {
			return "", "", fmt.Errorf("control: endpoint %q: empty socket path", endpoint)
		}
		return "unix", path, nil
	}
	if _, _, err := net.SplitHostPort(endpoint); err != nil {
		return "", "", fmt.Errorf("control: endpoint %q: want unix:PATH or host:port: %w", endpoint, err)
	}
	return "tcp", endpoint, nil
}

// Listen opens the status endpoint named by a config `control` value.
//
// For "unix:PATH" it creates PATH's folder (0700) if needed. An existing
// socket file is removed only when nothing answers on it (a crash left it
// behind); if something answers, Listen fails with ErrInUse rather than
// stealing the endpoint from a live i2pbridge. Anything at PATH that is not
// a socket is left alone and is an error. The socket is 0600 from the
// moment anyone can connect to it, and closing the listener removes it.
//
// For "host:port" the host must be a loopback address or "localhost"
// (ErrNotLoopback otherwise); port 0 picks a free port (see Addr).
func Listen(endpoint string) (net.Listener, error) {
	network, address, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		return listenUnix(address)
	}
	return listenTCP(address)
}

func listenTCP(address string) (net.Listener, error) {
	host, _, _ := net.SplitHostPort(address) // ParseEndpoint checked it
	ip := net.ParseIP(host)
	if !(host == "localhost" || ip != nil && ip.IsLoopback()) {
		return nil, fmt.Errorf("%w: %q (the status endpoint reveals our destinations; use 127.0.0.1:PORT or unix:PATH)", ErrNotLoopback, address)
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: %s: is another i2pbridge running? (%w)", ErrInUse, address, err)
		}
		return nil, fmt.Errorf("control: listen on %s: %w", address, err)
	}
	// "localhost" can resolve to anything the hosts file says.
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("%w: %q bound to %s", ErrNotLoopback, address, ln.Addr())
	}
	return ln, nil
}

func listenUnix(path string) (net.Listener, error) {
	if len(path) > maxUnixPath {
		return nil, fmt.Errorf("%w: %q is %d bytes, the limit is %d; set a shorter `control:` path (or datadir)", ErrPathTooLong, path, len(path), maxUnixPath)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control: create folder for socket: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ul, err := bindPrivate(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		ul.Close()
		return nil, fmt.Errorf("control: stat socket: %w", err)
	}
	return &unixListener{UnixListener: ul, path: path, file: fi}, nil
}

// removeStale clears path for bind if it holds a socket nobody answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control: %s exists and is not a socket; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, probeTimeout)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: something answers at unix:%s: is another i2pbridge running?", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		// E.g. EACCES: someone else's socket. Not ours to remove.
		return fmt.Errorf("control: probe existing socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control: remove stale socket: %w", err)
	}
	return nil
}

// bindPrivate binds a unix socket at path that no other user can ever
// connect to. bind(2) creates the file with the process umask, and a chmod
// afterwards leaves a window in which another local user could connect (and
// keep the connection). So we bind inside a fresh 0700 folder next to path,
// chmod there, and hard-link the socket into place: link(2) also fails if
// path appeared meanwhile, so two instances starting at once cannot both
// win. When the temporary name would exceed the sun_path limit although
// path itself fits, we bind at path directly and chmod at once.
func bindPrivate(path string) (*net.UnixListener, error) {
	dir := filepath.Dir(path)
	var suffix [3]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails
	tmpDir := filepath.Join(dir, ".c"+hex.EncodeToString(suffix[:]))
	tmp := filepath.Join(tmpDir, "s")
	if len(tmp) > maxUnixPath {
		ul, err := bindAt(path)
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(path, 0o600); err != nil {
			ul.Close()
			os.Remove(path)
			return nil, fmt.Errorf("control: chmod socket: %w", err)
		}
		return ul, nil
	}
	if err := os.Mkdir(tmpDir, 0o700); err != nil {
		return nil, fmt.Errorf("control: create private folder for socket: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	ul, err := bindAt(tmp)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		ul.Close()
		return nil, fmt.Errorf("control: chmod socket: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		ul.Close()
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: unix:%s appeared while starting: is another i2pbridge starting?", ErrInUse, path)
		}
		return nil, fmt.Errorf("control: link socket into place: %w", err)
	}
	return ul, nil
}

func bindAt(path string) (*net.UnixListener, error) {
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: unix:%s appeared while starting: is another i2pbridge starting?", ErrInUse, path)
		}
		return nil, fmt.Errorf("control: listen on unix:%s: %w", path, err)
	}
	// unixListener.Close removes the file, and only if it is still ours;
	// with bindPrivate the bind name is gone long before then anyway.
	ul.SetUnlinkOnClose(false)
	return ul, nil
}

// unixListener removes its socket file on Close, but only if the file is
// still the one it created: a user may have deleted it and started another
// instance, whose socket we must not pull away.
type unixListener struct {
	*net.UnixListener
	path string
	file fs.FileInfo
	once sync.Once
}

// Addr reports the public path, not the temporary bind name.
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.file) {
			if rerr := os.Remove(l.path); rerr != nil && err == nil {
				err = fmt.Errorf("control: remove socket: %w", rerr)
			}
		}
	})
	return err
}
