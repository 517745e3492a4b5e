// Package leaktest checks that a test leaves no goroutines behind: the
// lifecycle tests of the tunnel kinds, the relay and the proxies all use it.
package leaktest

import (
	"runtime"
	"testing"
	"time"
)

// Check records the number of goroutines now and, when t ends, fails t if
// more are still running after a 5 s grace period, printing every stack.
func Check(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
