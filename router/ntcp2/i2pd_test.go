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
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"i2pbridge/router/data"
	"i2pbridge/router/internal/i2pdtest"
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

// received is one I2NP message a Session delivered.
type received struct {
	s *Session
	m I2NPMessage
}

func TestInteropI2pd(t *testing.T) {
	i2pd := i2pdtest.Require(t, true)
	i2pdtest.LockFile(t, "/tmp/i2pb-ntcp2.lock")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	ns := i2pdtest.NewNamespace(t, interopNS, interopI2pdAddr+"/24")
	dir := i2pdtest.TempDir(t, "i2pb-ntcp2-i2pd-")
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
	i2pdtest.WriteFile(t, riPath, ourRI.Bytes(), 0o600)
	conf := filepath.Join(dir, "i2pd.conf")
	i2pdtest.Conf{
		Comment: "i2pd for router/ntcp2's interop test; everything not needed is off.",
		Dir:     dir, NetID: interopNetID, Host: interopI2pdAddr, Port: interopI2pdPort, Bandwidth: "L",
	}.Write(t, conf)

	msgs := make(chan received, 256)
	ris := make(chan data.RouterInfo, 16)
	cfg := Config{
		RouterInfo:   ourRI,
		Static:       static,
		Logger:       slog.New(slog.NewTextHandler(i2pdtest.LogWriter{T: t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnI2NP:       func(s *Session, m I2NPMessage) { msgs <- received{s, m} },
		OnRouterInfo: func(_ *Session, ri data.RouterInfo, _ bool) { ris <- ri },
	}
	ln, err := ns.Listen(ctx, "tcp", interopOurAddr)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })

	proc := i2pdtest.Start(t, ns.Command(i2pd, "--datadir="+dir, "--conf="+conf), filepath.Join(dir, "stdout.log"))
	t.Cleanup(func() {
		proc.Stop(10 * time.Second)
		if t.Failed() || os.Getenv("I2PB_NTCP2_FULL_LOG") != "" {
			i2pdtest.DumpLog(t, logPath, 5000)
			i2pdtest.DumpLog(t, filepath.Join(dir, "stdout.log"), 50)
		} else {
			t.Logf("i2pd NTCP2 events:\n%s", i2pdtest.Grep(logPath, ntcp2EventRE, 0))
		}
	})
	started := time.Now()

	// i2pd writes router.info at start.
	var i2pdRI data.RouterInfo
	proc.WaitFile(t, ctx, filepath.Join(dir, "router.info"), func(b []byte) bool {
		ri, n, err := data.ParseRouterInfo(b)
		if err != nil || n != len(b) {
			return false
		}
		i2pdRI = ri
		return true
	})
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
			if !i2pdtest.WaitLog(ctx, logPath, regexp.MustCompile(fmt.Sprintf(`NetDb: Publishing confirmed. reply token=%d`, token)), 10*time.Second) {
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
		if !i2pdtest.WaitLog(ctx, logPath, regexp.MustCompile(`NTCP2: Termination. reason=0`), 10*time.Second) {
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

// ntcp2EventRE picks the interesting NTCP2 and netDb lines of i2pd's log.
var ntcp2EventRE = regexp.MustCompile(`NTCP2: (Connect|Session|Incoming|Connected|Termination|RouterInfo|No |Unexpected|Unknown|.*verification|.*mismatch|.*exceeds|.*too)|Publishing|NetDb: RouterInfo (added|updated)|DeliveryStatus`)
