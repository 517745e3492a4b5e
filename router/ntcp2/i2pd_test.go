//go:build linux

package ntcp2

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"i2pbridge/router/data"
)

// The judge: a real i2pd 2.45.1 in a network namespace of our own, dialling
// us and being dialled by us. i2pd refuses inbound NTCP2 from loopback and
// private ranges (protocol-map.md §15), hence the namespace and the
// 198.19.0.0/24 addresses (RFC 2544 benchmarking space, which i2pd 2.45
// does not block).
const (
	interopNS       = "i2pb-ntcp2"
	interopI2pdAddr = "198.19.0.1"
	interopI2pdPort = 12399
	interopOurAddr  = "198.19.0.100:12400"
	interopNetID    = 99
	i2npDSM         = 1  // DatabaseStore
	i2npDSRM        = 3  // DatabaseSearchReply
	i2npDLM         = 2  // DatabaseLookup
	i2npDS          = 10 // DeliveryStatus
)

// requireInterop returns i2pd's path, or skips with the reason; under
// CI=true a missing prerequisite is a failure instead.
func requireInterop(t *testing.T) string {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces)")
	}
	path, err := exec.LookPath("i2pd")
	if err != nil {
		missing = append(missing, "i2pd in PATH")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "ip(8)")
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

const i2pdConf = `# i2pd for router/ntcp2's interop test; everything not needed is off.
log = file
logfile = %[1]s/i2pd.log
loglevel = debug
daemon = false
netid = %[2]d
reservedrange = false
host = %[3]s
address4 = %[3]s
ipv4 = true
ipv6 = false
nat = false
floodfill = false
bandwidth = L
[ntcp2]
enabled = true
published = true
port = %[4]d
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
`

// received is one I2NP message a Session delivered.
type received struct {
	s *Session
	m I2NPMessage
}

func TestInteropI2pd(t *testing.T) {
	i2pd := requireInterop(t)
	lockFile(t, "/tmp/i2pb-ntcp2.lock")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ns := newTestNamespace(t, interopNS, interopI2pdAddr+"/24")
	dir, err := os.MkdirTemp("/tmp", "i2pb-ntcp2-i2pd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	logPath := filepath.Join(dir, "i2pd.log")

	// Our router: published NTCP2 address 198.19.0.100:12400 on netId 99,
	// caps with f, so that i2pd, knowing nobody else, publishes its
	// RouterInfo to us and explores through us: that is what makes it
	// dial a router it has only read from its netDb.
	keys, err := data.GenerateRouterKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	static, err := GenerateStaticKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ourRI := buildRI(t, keys, static, routerOpts{addr: netip.MustParseAddrPort(interopOurAddr), caps: "LfR"})
	riPath := data.RouterInfoPath(filepath.Join(dir, "netDb"), ourRI.Hash())
	if err := os.MkdirAll(filepath.Dir(riPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(riPath, ourRI.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "i2pd.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, i2pdConf, dir, interopNetID, interopI2pdAddr, interopI2pdPort), 0o600); err != nil {
		t.Fatal(err)
	}

	msgs := make(chan received, 256)
	ris := make(chan data.RouterInfo, 16)
	cfg := Config{
		RouterInfo:   ourRI,
		Static:       static,
		Logger:       slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnI2NP:       func(s *Session, m I2NPMessage) { msgs <- received{s, m} },
		OnRouterInfo: func(_ *Session, ri data.RouterInfo, _ bool) { ris <- ri },
	}
	ln, err := ns.listen(interopOurAddr)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })

	cmd := ns.command(i2pd, "--datadir="+dir, "--conf="+conf)
	out, err := os.Create(filepath.Join(dir, "stdout.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(exited) }()
	t.Cleanup(func() {
		stopProcess(cmd, exited, 10*time.Second)
		if t.Failed() || os.Getenv("I2PB_NTCP2_FULL_LOG") != "" {
			dumpLog(t, logPath, 5000)
			dumpLog(t, filepath.Join(dir, "stdout.log"), 50)
		} else {
			t.Logf("i2pd NTCP2 events:\n%s", ntcp2Events(logPath))
		}
	})
	started := time.Now()

	// i2pd writes router.info at start.
	var i2pdRI data.RouterInfo
	for {
		b, err := os.ReadFile(filepath.Join(dir, "router.info"))
		if err == nil {
			ri, n, perr := data.ParseRouterInfo(b)
			if perr == nil && n == len(b) {
				i2pdRI = ri
				break
			}
		}
		select {
		case <-exited:
			t.Fatal("i2pd exited at start")
		case <-ctx.Done():
			t.Fatal("i2pd wrote no router.info")
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := i2pdRI.Verify(); err != nil {
		t.Fatalf("i2pd's router.info: %v", err)
	}
	t.Logf("i2pd %s up after %v, caps %q, version %s", i2pdRI.Hash().Short(), time.Since(started).Round(time.Millisecond), i2pdRI.Caps(), i2pdRI.RouterVersion())

	t.Run("i2pd dials us", func(t *testing.T) {
		actx, acancel := context.WithTimeout(ctx, 30*time.Second)
		defer acancel()
		s, err := l.Accept(actx)
		if err != nil {
			t.Fatalf("i2pd did not complete a handshake with us: %v", err)
		}
		defer s.Close()
		t.Logf("inbound session from i2pd after %v", time.Since(started).Round(time.Millisecond))
		if s.PeerHash() != i2pdRI.Hash() {
			t.Fatalf("session peer %s, i2pd is %s", s.PeerHash().Short(), i2pdRI.Hash().Short())
		}
		// i2pd connected to publish its RouterInfo: a DatabaseStore with a
		// reply token. We answer it with a DeliveryStatus, as a floodfill
		// would, which i2pd logs.
		dsm := waitI2NP(t, ctx, msgs, s, i2npDSM, 15*time.Second)
		key, token, ri := parseDSM(t, dsm.Body)
		if key != i2pdRI.Hash() || ri.Hash() != i2pdRI.Hash() {
			t.Fatalf("DatabaseStore for %s carrying %s, want i2pd's own", key.Short(), ri.Hash().Short())
		}
		t.Logf("i2pd published its RouterInfo to us: DatabaseStore id %d, reply token %d, %d-byte RI", dsm.ID, token, ri.Len())
		if token != 0 {
			if err := s.Send(ctx, deliveryStatus(token)); err != nil {
				t.Fatal(err)
			}
			if !waitLog(ctx, logPath, regexp.MustCompile(fmt.Sprintf(`NetDb: Publishing confirmed. reply token=%d`, token)), 10*time.Second) {
				t.Errorf("i2pd did not log the publish confirmation for token %d", token)
			}
		}
	})

	t.Run("we dial i2pd", func(t *testing.T) {
		start := time.Now()
		s, err := Dial(ctx, ns, cfg, i2pdRI)
		if err != nil {
			t.Fatalf("handshake with i2pd: %v", err)
		}
		hs := time.Since(start)
		t.Logf("outbound handshake with i2pd took %v", hs)
		// i2pd treats us as an incoming peer and sends its RouterInfo as a
		// DatabaseStore (Transports::PeerConnected).
		dsm := waitI2NP(t, ctx, msgs, s, i2npDSM, 10*time.Second)
		key, token, ri := parseDSM(t, dsm.Body)
		if key != i2pdRI.Hash() || ri.Hash() != i2pdRI.Hash() {
			t.Fatalf("DatabaseStore for %s, want i2pd's RouterInfo", key.Short())
		}
		t.Logf("i2pd sent its RouterInfo: DatabaseStore id %d, token %d", dsm.ID, token)

		// An I2NP round trip through i2pd: a DatabaseStore of our
		// RouterInfo with a reply token and reply tunnel 0 makes any i2pd
		// answer directly with a DeliveryStatus carrying the token
		// (NetDb::HandleDatabaseStoreMsg).
		var tok [4]byte
		rand.Read(tok[:])
		want := binary.BigEndian.Uint32(tok[:]) | 1
		if err := s.Send(ctx, databaseStore(t, ourRI, want)); err != nil {
			t.Fatal(err)
		}
		ds := waitI2NP(t, ctx, msgs, s, i2npDS, 10*time.Second)
		if len(ds.Body) != 12 || binary.BigEndian.Uint32(ds.Body) != want {
			t.Fatalf("DeliveryStatus body %x, want token %08x", ds.Body, want)
		}
		t.Logf("i2pd answered our DatabaseStore with DeliveryStatus id %d, token %08x", ds.ID, want)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if !waitLog(ctx, logPath, regexp.MustCompile(`NTCP2: Termination. reason=0`), 10*time.Second) {
			t.Error("i2pd did not log our Termination block")
		}
	})
	drainLog(t, msgs, ris)
}

// waitI2NP waits for an I2NP message of type typ on session s, logging the
// others that arrive.
func waitI2NP(t *testing.T, ctx context.Context, msgs <-chan received, s *Session, typ uint8, timeout time.Duration) I2NPMessage {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case r := <-msgs:
			if r.s != s {
				t.Logf("(other session %s) I2NP type %d id %d, %d bytes", r.s.PeerHash().Short(), r.m.Type, r.m.ID, len(r.m.Body))
				continue
			}
			if r.m.Type == typ {
				return r.m
			}
			t.Logf("i2pd also sent I2NP type %d id %d, %d bytes", r.m.Type, r.m.ID, len(r.m.Body))
		case <-s.Done():
			t.Fatalf("session ended waiting for I2NP type %d: %v", typ, s.Err())
		case <-deadline:
			t.Fatalf("no I2NP type %d within %v", typ, timeout)
		case <-ctx.Done():
			t.Fatalf("no I2NP type %d: %v", typ, ctx.Err())
		}
	}
}

func drainLog(t *testing.T, msgs <-chan received, ris <-chan data.RouterInfo) {
	for {
		select {
		case r := <-msgs:
			t.Logf("later I2NP from %s: type %d id %d, %d bytes", r.s.PeerHash().Short(), r.m.Type, r.m.ID, len(r.m.Body))
		case ri := <-ris:
			t.Logf("RouterInfo block: %s", ri.Hash().Short())
		default:
			return
		}
	}
}

// databaseStore builds an I2NP DatabaseStore of a RouterInfo (i2np.rst
// §"DatabaseStore"): key, type 0, reply token, reply tunnel 0, reply
// gateway (the RouterInfo's router), then the gzipped RouterInfo with a
// 2-byte length.
func databaseStore(t *testing.T, ri data.RouterInfo, token uint32) I2NPMessage {
	t.Helper()
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	w.Write(ri.Bytes())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	h := ri.Hash()
	b := append([]byte(nil), h[:]...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, token)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = append(b, h[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(gz.Len()))
	b = append(b, gz.Bytes()...)
	var id [4]byte
	rand.Read(id[:])
	return I2NPMessage{Type: i2npDSM, ID: binary.BigEndian.Uint32(id[:]), Expiration: uint32(time.Now().Add(8 * time.Second).Unix()), Body: b}
}

// parseDSM reads a RouterInfo DatabaseStore.
func parseDSM(t *testing.T, b []byte) (data.Hash, uint32, data.RouterInfo) {
	t.Helper()
	if len(b) < 37 {
		t.Fatalf("DatabaseStore of %d bytes", len(b))
	}
	key := data.Hash(b[:32])
	if b[32] != 0 {
		t.Fatalf("DatabaseStore type %d, want 0 (RouterInfo)", b[32])
	}
	token := binary.BigEndian.Uint32(b[33:37])
	off := 37
	if token != 0 {
		off += 36
	}
	if len(b) < off+2 {
		t.Fatal("DatabaseStore truncated")
	}
	n := int(binary.BigEndian.Uint16(b[off:]))
	off += 2
	if len(b) < off+n {
		t.Fatal("DatabaseStore RouterInfo truncated")
	}
	zr, err := gzip.NewReader(bytes.NewReader(b[off : off+n]))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	ri, m, err := data.ParseRouterInfo(raw)
	if err != nil || m != len(raw) {
		t.Fatalf("RouterInfo in DatabaseStore: %v", err)
	}
	if err := ri.Verify(); err != nil {
		t.Fatal(err)
	}
	return key, token, ri
}

// deliveryStatus is the I2NP DeliveryStatus a floodfill sends for a stored
// entry: msg id = the reply token, then a timestamp in milliseconds.
func deliveryStatus(token uint32) I2NPMessage {
	b := binary.BigEndian.AppendUint32(nil, token)
	b = binary.BigEndian.AppendUint64(b, uint64(time.Now().UnixMilli()))
	var id [4]byte
	rand.Read(id[:])
	return I2NPMessage{Type: i2npDS, ID: binary.BigEndian.Uint32(id[:]), Expiration: uint32(time.Now().Add(8 * time.Second).Unix()), Body: b}
}

// waitLog polls i2pd's log for a line matching re.
func waitLog(ctx context.Context, path string, re *regexp.Regexp, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if b, err := os.ReadFile(path); err == nil && re.Match(b) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

var ntcp2EventRE = regexp.MustCompile(`NTCP2: (Connect|Session|Incoming|Connected|Termination|RouterInfo|No |Unexpected|Unknown|.*verification|.*mismatch|.*exceeds|.*too)|Publishing|NetDb: RouterInfo (added|updated)|DeliveryStatus`)

// ntcp2Events returns the interesting NTCP2 and netDb lines of i2pd's log.
func ntcp2Events(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if ntcp2EventRE.MatchString(line) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func dumpLog(t *testing.T, path string, lines int) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("%s: %v", path, err)
		return
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	t.Logf("last %d lines of %s:\n%s", len(ls), path, strings.Join(ls, "\n"))
}

// testLogWriter sends slog output to t.Log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
