package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// runLock serialises runs that share a namespace and run dir: Up removes
// whatever an earlier run left, so a second `go test ./deploy/interop`
// started while one is running would tear the first one's network down.
// It is a flock on RunDir+".lock" (outside the run dir, which is removed),
// released by the kernel if the holder dies, so a crash never leaves it
// stuck.
type runLock struct{ f *os.File }

// lockWaitDefault bounds the wait for another run; a whole interop suite
// takes about 6 minutes.
const lockWaitDefault = 10 * time.Minute

func acquireRunLock(ctx context.Context, runDir string, wait time.Duration, log *slog.Logger) (*runLock, error) {
	path := runDir + ".lock"
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testnet: lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &runLock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("testnet: lock %s: %w", path, err)
		}
		if !logged {
			log.Info("testnet: another run holds the lock; waiting", "lock", path, "max", wait)
			logged = true
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("testnet: another run has held %s for %s (a test or testnet up/down using the same run dir)", path, wait)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("testnet: waiting for %s: %w", path, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func (l *runLock) release() {
	if l != nil && l.f != nil {
		_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}
