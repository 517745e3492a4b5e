package leaktest

import (
	"testing"
	"time"
)

// fakeT records Errorf so a leak can be observed without failing the test.
type fakeT struct {
	testing.TB
	cleanups []func()
	failed   bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Cleanup(fn func())     { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) runCleanups() {
	for _, fn := range f.cleanups {
		fn()
	}
}

func TestCheckReportsLeak(t *testing.T) {
	ft := &fakeT{TB: t}
	Check(ft)
	stop := make(chan struct{})
	go func() { <-stop }()
	ft.runCleanups()
	close(stop)
	if !ft.failed {
		t.Fatal("a goroutine still running was not reported")
	}
}

func TestCheckPassesWhenGoroutinesEnd(t *testing.T) {
	ft := &fakeT{TB: t}
	Check(ft)
	done := make(chan struct{})
	go func() { time.Sleep(50 * time.Millisecond); close(done) }()
	ft.runCleanups()
	<-done
	if ft.failed {
		t.Fatal("a goroutine that ended within the grace period was reported")
	}
}
