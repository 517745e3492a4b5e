// Package i2pdtest is the plumbing shared by the tests that run real i2pd
// routers: the prerequisite check, i2pd.conf, starting and stopping i2pd,
// and reading its log. The network namespace the NTCP2 tests need (i2pd
// refuses NTCP2 from loopback and private ranges) is in netns_linux.go.
//
// Only _test.go files import it. Of this module it imports router/netx
// alone (which imports nothing of it), so the internal tests of any other
// router package can use it without an import cycle; it must never import
// bridge/, proxy/, config/ or deploy/.
package i2pdtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Require returns i2pd's path, or skips the test with the reason; under
// CI=true a missing prerequisite is a failure instead. With netns it also
// needs root and ip(8), for a network namespace.
func Require(t testing.TB, netns bool) string {
	t.Helper()
	var missing []string
	if netns && os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces)")
	}
	path, err := exec.LookPath("i2pd")
	if err != nil {
		missing = append(missing, "i2pd in PATH")
	}
	if netns {
		if _, err := exec.LookPath("ip"); err != nil {
			missing = append(missing, "ip(8)")
		}
	}
	if len(missing) > 0 {
		msg := "i2pd interop test needs " + strings.Join(missing, ", ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (a failure when CI=true)")
	}
	return path
}

// Conf is the i2pd.conf of a router that reaches only what its test gives
// it: NTCP2 only, published at Host:Port, every client service, UPnP,
// nettime, the address book and reseeding off, and a debug log in
// Dir/i2pd.log.
type Conf struct {
	Comment   string // the first line, after "# "
	Dir       string // the datadir, where the log goes
	NetID     int
	Host      string // host and address4
	Port      int    // the NTCP2 port
	Floodfill bool
	Bandwidth string // a bandwidth class: L, O, X, …
	Main      string // more lines for the main section, each ending in "\n"
	Sections  string // more sections, placed before [ntcp2]
}

// String is the file's text.
func (c Conf) String() string {
	return fmt.Sprintf(`# %[1]s
log = file
logfile = %[2]s/i2pd.log
loglevel = debug
daemon = false
netid = %[3]d
reservedrange = false
host = %[4]s
address4 = %[4]s
ipv4 = true
ipv6 = false
nat = false
floodfill = %[5]t
bandwidth = %[6]s
%[7]s%[8]s[ntcp2]
enabled = true
published = true
port = %[9]d
[ssu2]
enabled = false
[http]
enabled = false
[httpproxy]
enabled = false
[socksproxy]
enabled = false
[sam]
enabled = false
[bob]
enabled = false
[i2cp]
enabled = false
[i2pcontrol]
enabled = false
[upnp]
enabled = false
[nettime]
enabled = false
[addressbook]
enabled = false
[meshnets]
yggdrasil = false
[reseed]
verify = false
urls =
yggurls =
`, c.Comment, c.Dir, c.NetID, c.Host, c.Floodfill, c.Bandwidth, c.Main, c.Sections, c.Port)
}

// Write writes the file to path.
func (c Conf) Write(t testing.TB, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(c.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Process is a started i2pd (or any program).
type Process struct {
	Cmd *exec.Cmd
	// Exited is closed when the process has exited and its output file
	// is closed.
	Exited <-chan struct{}
}

// Start starts cmd with its stdout and stderr going to the file output
// (none if ""), and waits for it in the background.
func Start(t testing.TB, cmd *exec.Cmd, output string) *Process {
	t.Helper()
	var out *os.File
	if output != "" {
		var err error
		if out, err = os.Create(output); err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
	}
	if err := cmd.Start(); err != nil {
		if out != nil {
			out.Close()
		}
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		if out != nil {
			out.Close()
		}
		close(exited)
	}()
	return &Process{Cmd: cmd, Exited: exited}
}

// Stop sends SIGTERM (i2pd stops in about 2 s; SIGINT would wait for its
// transit tunnels) and SIGKILL after grace, and returns once the process
// has exited. Stopping a stopped process does nothing.
func (p *Process) Stop(grace time.Duration) {
	if p == nil || p.Cmd.Process == nil {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.Exited:
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.Exited
	}
}

// WaitFile waits until the file path exists and ok accepts its content
// (i2pd writes router.info at start). It fails the test if the process
// exits first or ctx ends.
func (p *Process) WaitFile(t testing.TB, ctx context.Context, path string, ok func([]byte) bool) {
	t.Helper()
	for {
		if b, err := os.ReadFile(path); err == nil && ok(b) {
			return
		}
		select {
		case <-p.Exited:
			t.Fatal("i2pd exited at start")
		case <-ctx.Done():
			t.Fatalf("i2pd wrote no %s", filepath.Base(path))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitFor polls cond every 100 ms until it holds or d passes; it returns
// how long it took, or -1.
func WaitFor(ctx context.Context, d time.Duration, cond func() bool) time.Duration {
	start := time.Now()
	deadline := start.Add(d)
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return -1
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Contains reports whether the file path exists and re matches in it.
func Contains(path string, re *regexp.Regexp) bool {
	b, err := os.ReadFile(path)
	return err == nil && re.Match(b)
}

// WaitLog polls the log at path for a match of re, up to timeout.
func WaitLog(ctx context.Context, path string, re *regexp.Regexp, timeout time.Duration) bool {
	return WaitFor(ctx, timeout, func() bool { return Contains(path, re) }) >= 0
}

// GrepLines returns the lines of path that re matches.
func GrepLines(path string, re *regexp.Regexp) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// Grep returns the first max lines of path that re matches (all if max is
// 0), or the error reading it.
func Grep(path string, re *regexp.Regexp, max int) string {
	ls, err := GrepLines(path, re)
	if err != nil {
		return err.Error()
	}
	if max > 0 && len(ls) > max {
		ls = ls[:max]
	}
	return strings.Join(ls, "\n")
}

// Tail returns the last n lines of path, or the error reading it.
func Tail(path string, n int) string {
	ls, err := tail(path, n)
	if err != nil {
		return err.Error()
	}
	return strings.Join(ls, "\n")
}

func tail(path string, n int) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return ls, nil
}

// DumpLog logs the last lines of path.
func DumpLog(t testing.TB, path string, lines int) {
	t.Helper()
	ls, err := tail(path, lines)
	if err != nil {
		t.Logf("%s: %v", path, err)
		return
	}
	t.Logf("last %d lines of %s:\n%s", len(ls), path, strings.Join(ls, "\n"))
}

// LogWriter sends what is written to it (slog output) to T.Log.
type LogWriter struct{ T testing.TB }

func (w LogWriter) Write(p []byte) (int, error) {
	w.T.Helper()
	w.T.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TempDir makes a directory for an i2pd datadir under /tmp and removes it
// when the test ends.
func TempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// WriteFile writes b to path, making its directory (such as a netDb
// folder's r? subdirectory) first.
func WriteFile(t testing.TB, path string, b []byte, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, perm); err != nil {
		t.Fatal(err)
	}
}
