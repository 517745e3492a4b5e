package sam_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"i2pbridge/router"
	"i2pbridge/router/data"
	"i2pbridge/router/sam"
)

func TestHelloNegotiatesTheHighestCommonVersion(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{cfg: func(_ int, c *sam.Config) { c.HelloTimeout = time.Second }})
	for _, tc := range []struct{ hello, want string }{
		{"HELLO VERSION", "HELLO REPLY RESULT=OK VERSION=3.3"},
		{"HELLO VERSION MIN=3.0 MAX=3.3", "HELLO REPLY RESULT=OK VERSION=3.3"},
		{"HELLO VERSION MIN=3.0 MAX=3.1", "HELLO REPLY RESULT=OK VERSION=3.1"},
		{"HELLO VERSION MIN=3 MAX=3", "HELLO REPLY RESULT=OK VERSION=3.3"},
		{"HELLO VERSION MAX=3.0", "HELLO REPLY RESULT=OK VERSION=3.0"},
		{"HELLO VERSION MIN=3.1", "HELLO REPLY RESULT=OK VERSION=3.3"},
		{"HELLO VERSION MIN=3.1 MAX=4.2", "HELLO REPLY RESULT=OK VERSION=3.3"},
		{"hello version min=3.0 max=3.2", "HELLO REPLY RESULT=OK VERSION=3.3"}, // keys are case-sensitive: min/max are unknown
		{"HELLO VERSION MIN=3.2 MAX=3.2 USER=\"a b\" PASSWORD=x", "HELLO REPLY RESULT=OK VERSION=3.2"},
		{"HELLO VERSION MIN=3.4 MAX=3.9", `HELLO REPLY RESULT=NOVERSION MESSAGE="this bridge speaks SAM 3.0 to 3.3"`},
		{"HELLO VERSION MIN=1 MAX=2", `HELLO REPLY RESULT=NOVERSION MESSAGE="this bridge speaks SAM 3.0 to 3.3"`},
		{"HELLO VERSION MIN=3.3 MAX=3.1", `HELLO REPLY RESULT=NOVERSION MESSAGE="this bridge speaks SAM 3.0 to 3.3"`},
		{"HELLO VERSION MAX=three", `HELLO REPLY RESULT=I2P_ERROR MESSAGE="MAX: bad version \"three\""`},
		{"HELLO VERSION MIN=3.-1", `HELLO REPLY RESULT=I2P_ERROR MESSAGE="MIN: bad version \"3.-1\""`},
		{"SESSION CREATE STYLE=STREAM", `HELLO REPLY RESULT=I2P_ERROR MESSAGE="expected HELLO VERSION, got SESSION CREATE"`},
		{"HELLO VERSION MAX=\"3.3", `HELLO REPLY RESULT=I2P_ERROR MESSAGE="sam: syntax error: unterminated quote at column 19 (value of MAX)"`},
	} {
		c := dialSAM(t, e.addrs[0])
		if r := c.cmd(tc.hello); r.String() != tc.want {
			t.Errorf("%s\n got: %v\nwant: %s", tc.hello, r, tc.want)
		}
		ok := strings.Contains(tc.want, "RESULT=OK")
		if !ok && !c.closed() {
			t.Errorf("%s: socket left open after a failed HELLO", tc.hello)
		}
		if ok && !c.alive() {
			t.Errorf("%s: socket does not answer PING", tc.hello)
		}
	}
	c := dialSAM(t, e.addrs[0])
	if r := c.line(5 * time.Second); r.String() != `HELLO REPLY RESULT=I2P_ERROR MESSAGE="no HELLO within 1s"` || !c.closed() {
		t.Errorf("silent client: %v", r)
	}
}

// TestErrorReplies: every bad command gets its family's reply line with a
// RESULT other than OK and a MESSAGE saying why. Utility and session
// commands leave the socket open; failed STREAM commands close it.
func TestErrorReplies(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctrl, keys := session(t, e.addrs[0], "s", "STREAM", fastTunnels)
	b32 := keys.Destination().B32()
	// A PRIMARY session "pr" with a DATAGRAM subsession "pd", whose
	// datagrams would be forwarded to sink.
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	prim, prKeys := session(t, e.addrs[0], "pr", "PRIMARY", fastTunnels)
	if r := prim.cmd("SESSION ADD STYLE=DATAGRAM ID=pd PORT=" + udpPort(sink)); r.Value("RESULT") != "OK" {
		t.Fatalf("SESSION ADD: %v", r)
	}
	for _, tc := range []struct {
		cmd    string
		result string // the reply line up to MESSAGE
		msg    string // in MESSAGE
		closes bool
	}{
		{"FOO BAR", "SESSION STATUS RESULT=I2P_ERROR", `unknown command "FOO BAR"`, false},
		{"STREAM JUMP ID=s", "STREAM STATUS RESULT=I2P_ERROR", `unknown command "STREAM JUMP"`, false},
		{"HELLO VERSION", "HELLO REPLY RESULT=I2P_ERROR", "already answered", false},
		{`SESSION CREATE ID="x`, "SESSION STATUS RESULT=I2P_ERROR", "unterminated quote", false},
		{`STREAM CONNECT ID=s DESTINATION=a"b`, "STREAM STATUS RESULT=I2P_ERROR", "quote inside the unquoted value of DESTINATION", false},
		{"NAMING LOOKUP NAME=a NAME=b", "NAMING REPLY RESULT=I2P_ERROR", "NAME given twice", false},
		{"SESSION CREATE STYLE=STREAM DESTINATION=TRANSIENT", "SESSION STATUS RESULT=INVALID_ID", "ID is missing", false},
		{"SESSION CREATE ID=x DESTINATION=TRANSIENT", "SESSION STATUS RESULT=I2P_ERROR", "STYLE is missing", false},
		{"SESSION CREATE STYLE=BOGUS ID=x DESTINATION=TRANSIENT", "SESSION STATUS RESULT=I2P_ERROR", `unknown STYLE "BOGUS"`, false},
		{"SESSION CREATE STYLE=MASTER ID=x DESTINATION=TRANSIENT FROM_PORT=1", "SESSION STATUS RESULT=I2P_ERROR", "FROM_PORT is not allowed on a PRIMARY session", false},
		{"SESSION CREATE STYLE=PRIMARY ID=x DESTINATION=TRANSIENT PORT=5 HOST=127.0.0.1", "SESSION STATUS RESULT=I2P_ERROR", "PORT is not allowed on a PRIMARY session", false},
		{"SESSION CREATE STYLE=PRIMARY ID=x DESTINATION=TRANSIENT LISTEN_PORT=80", "SESSION STATUS RESULT=I2P_ERROR", "LISTEN_PORT is not allowed on a PRIMARY session", false},
		{"SESSION CREATE STYLE=STREAM ID=pd DESTINATION=TRANSIENT", "SESSION STATUS RESULT=DUPLICATED_ID", `a session with ID "pd" exists`, false},
		{"SESSION CREATE STYLE=STREAM ID=x", "SESSION STATUS RESULT=INVALID_KEY", "DESTINATION is missing", false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=AAAA", "SESSION STATUS RESULT=INVALID_KEY", "private keys", false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=!!", "SESSION STATUS RESULT=INVALID_KEY", "private keys", false},
		{"SESSION CREATE STYLE=STREAM ID=x/y DESTINATION=TRANSIENT", "SESSION STATUS RESULT=INVALID_ID", `holds one of`, false},
		{"SESSION CREATE STYLE=STREAM ID=s DESTINATION=TRANSIENT", "SESSION STATUS RESULT=DUPLICATED_ID", `a session with ID "s" exists`, false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=" + keys.Base64(), "SESSION STATUS RESULT=DUPLICATED_DEST", "destination exists", false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=TRANSIENT SIGNATURE_TYPE=0", "SESSION STATUS RESULT=I2P_ERROR", "SIGNATURE_TYPE 0 (0, DSA_SHA1) is not supported: only EdDSA_SHA512_Ed25519 (7)", false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=TRANSIENT SIGNATURE_TYPE=ECDSA_SHA256_P256", "SESSION STATUS RESULT=I2P_ERROR", "(1, ECDSA_SHA256_P256) is not supported", false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=TRANSIENT SIGNATURE_TYPE=Fancy", "SESSION STATUS RESULT=I2P_ERROR", `unknown SIGNATURE_TYPE "Fancy"`, false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=TRANSIENT CRYPTO_TYPE=0", "SESSION STATUS RESULT=I2P_ERROR", "only ECIES_X25519 (4)", false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=TRANSIENT inbound.length=9", "SESSION STATUS RESULT=I2P_ERROR", `inbound.length="9": want a number from 0 to 7`, false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=TRANSIENT outbound.quantity=many", "SESSION STATUS RESULT=I2P_ERROR", `outbound.quantity="many"`, false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=TRANSIENT PORT=5", "SESSION STATUS RESULT=I2P_ERROR", "PORT is for DATAGRAM and RAW sessions", false},
		{"SESSION CREATE STYLE=RAW ID=x DESTINATION=TRANSIENT PROTOCOL=6", "SESSION STATUS RESULT=I2P_ERROR", "PROTOCOL=6 is not supported", false},
		{"SESSION CREATE STYLE=DATAGRAM ID=x DESTINATION=TRANSIENT FROM_PORT=70000", "SESSION STATUS RESULT=I2P_ERROR", `FROM_PORT="70000"`, false},
		{"SESSION CREATE STYLE=DATAGRAM ID=x DESTINATION=TRANSIENT HOST=127.0.0.1", "SESSION STATUS RESULT=I2P_ERROR", "HOST needs PORT", false},
		{"SESSION CREATE STYLE=STREAM ID=x DESTINATION=TRANSIENT i2cp.dontPublishLeaseSet=maybe", "SESSION STATUS RESULT=I2P_ERROR", "want true or false", false},
		{"SESSION ADD STYLE=STREAM ID=x", "SESSION STATUS RESULT=I2P_ERROR", "SESSION ADD is for the control socket of a PRIMARY session", false},
		{"SESSION REMOVE ID=pd", "SESSION STATUS RESULT=I2P_ERROR", "SESSION REMOVE is for the control socket of a PRIMARY session", false},
		{"DATAGRAM SEND ID=pr DESTINATION=" + b32 + " SIZE=1\nx", "DATAGRAM STATUS RESULT=I2P_ERROR", `session "pr" is a PRIMARY session, which carries no data itself`, false},
		{"DATAGRAM SEND ID=s DESTINATION=" + b32 + " SIZE=1\nx", "DATAGRAM STATUS RESULT=I2P_ERROR", `session "s" is a STREAM session, not DATAGRAM`, false},
		{"RAW SEND ID=pd DESTINATION=" + b32 + " SIZE=1\nx", "RAW STATUS RESULT=I2P_ERROR", `session "pd" is a DATAGRAM session, not RAW`, false},
		{"NAMING LOOKUP", "NAMING REPLY RESULT=I2P_ERROR", "NAME is missing", false},
		{"NAMING LOOKUP NAME=ME", "NAMING REPLY RESULT=I2P_ERROR NAME=ME", "needs a session", false},
		{"NAMING LOOKUP NAME=nope", "NAMING REPLY RESULT=INVALID_KEY NAME=nope", "not a .i2p name", false},
		{"NAMING LOOKUP NAME=abc.b32.i2p", "NAMING REPLY RESULT=INVALID_KEY NAME=abc.b32.i2p", "has 3 characters", false},
		{"NAMING LOOKUP NAME=unknown.i2p", "NAMING REPLY RESULT=KEY_NOT_FOUND NAME=unknown.i2p", "not in the address book", false},
		{"DEST GENERATE SIGNATURE_TYPE=DSA_SHA1", "DEST REPLY RESULT=I2P_ERROR", "only EdDSA_SHA512_Ed25519", false},
		{"DEST GENERATE CRYPTO_TYPE=0", "DEST REPLY RESULT=I2P_ERROR", "only ECIES_X25519", false},
		{"DATAGRAM SEND DESTINATION=x", "DATAGRAM STATUS RESULT=I2P_ERROR", "SIZE is missing", true},
		{"RAW SEND SIZE=0 DESTINATION=x", "RAW STATUS RESULT=I2P_ERROR", `SIZE="0": want a number from 1 to 32768`, true},
		{"STREAM CONNECT DESTINATION=" + b32, "STREAM STATUS RESULT=INVALID_ID", "ID is missing", true},
		{"STREAM CONNECT ID=nobody DESTINATION=" + b32, "STREAM STATUS RESULT=INVALID_ID", `no session with ID "nobody"`, true},
		{"STREAM CONNECT ID=s", "STREAM STATUS RESULT=INVALID_KEY", "DESTINATION is missing", true},
		{"STREAM CONNECT ID=s DESTINATION=AAAA", "STREAM STATUS RESULT=INVALID_KEY", "destination", true},
		{"STREAM CONNECT ID=s DESTINATION=foo.i2p", "STREAM STATUS RESULT=INVALID_KEY", "unknown host name: foo.i2p", true},
		{"STREAM CONNECT ID=s DESTINATION=" + b32 + " SILENT=perhaps", "STREAM STATUS RESULT=I2P_ERROR", "want true or false", true},
		{"STREAM CONNECT ID=s DESTINATION=" + b32 + " TO_PORT=-1", "STREAM STATUS RESULT=I2P_ERROR", `TO_PORT="-1"`, true},
		{"STREAM ACCEPT", "STREAM STATUS RESULT=INVALID_ID", "ID is missing", true},
		{"STREAM FORWARD ID=s", "STREAM STATUS RESULT=I2P_ERROR", "PORT is missing", true},
		{"STREAM FORWARD ID=s PORT=0", "STREAM STATUS RESULT=I2P_ERROR", `PORT="0"`, true},
		{"STREAM FORWARD ID=s PORT=1234 SSL=true", "STREAM STATUS RESULT=I2P_ERROR", "SSL=true is not supported", true},
		{"STREAM FORWARD ID=nobody PORT=1234", "STREAM STATUS RESULT=INVALID_ID", `no session with ID "nobody"`, true},
		{"STREAM CONNECT ID=pr DESTINATION=" + b32, "STREAM STATUS RESULT=I2P_ERROR", `session "pr" is a PRIMARY session`, true},
		{"STREAM ACCEPT ID=pr", "STREAM STATUS RESULT=I2P_ERROR", "use the ID of one of its STREAM subsessions", true},
		{"STREAM FORWARD ID=pr PORT=1234", "STREAM STATUS RESULT=I2P_ERROR", `session "pr" is a PRIMARY session`, true},
		{"STREAM ACCEPT ID=pd", "STREAM STATUS RESULT=I2P_ERROR", `session "pd" is a DATAGRAM session, not STREAM`, true},
	} {
		c := hello(t, e.addrs[0])
		r := c.cmd(tc.cmd)
		head, msg := splitMessage(r)
		if head != tc.result || !strings.Contains(msg, tc.msg) {
			t.Errorf("%.70s\n got: %v\nwant: %s MESSAGE=...%s...", tc.cmd, r, tc.result, tc.msg)
			continue
		}
		if tc.closes {
			if !c.closed() {
				t.Errorf("%.70s: socket left open", tc.cmd)
			}
		} else if !c.alive() {
			t.Errorf("%.70s: socket closed or not answering", tc.cmd)
		}
	}

	// A session's control socket refuses to become a stream, and stays.
	if r := ctrl.cmd("STREAM ACCEPT ID=s"); r.Value("RESULT") != "I2P_ERROR" || !strings.Contains(r.Value("MESSAGE"), `controls session "s"`) || !ctrl.alive() {
		t.Errorf("STREAM ACCEPT on the control socket: %v", r)
	}
	if r := ctrl.cmd("SESSION CREATE STYLE=STREAM ID=t DESTINATION=TRANSIENT"); r.Value("RESULT") != "I2P_ERROR" || !ctrl.alive() {
		t.Errorf("second SESSION CREATE on a control socket: %v", r)
	}
	if r := ctrl.cmd("SESSION ADD STYLE=STREAM ID=t"); r.Value("RESULT") != "I2P_ERROR" || !strings.Contains(r.Value("MESSAGE"), "PRIMARY") || !ctrl.alive() {
		t.Errorf("SESSION ADD on a STREAM session's control socket: %v", r)
	}

	// SESSION ADD and REMOVE on the primary's control socket, in order:
	// every refusal leaves the socket and the primary as they were.
	ok := "SESSION STATUS RESULT=OK DESTINATION=" + prKeys.Base64()
	for _, tc := range []struct{ cmd, result, msg string }{
		{"SESSION ADD ID=x", "SESSION STATUS RESULT=I2P_ERROR", "STYLE is missing"},
		{"SESSION ADD STYLE=BOGUS ID=x", "SESSION STATUS RESULT=I2P_ERROR", `unknown STYLE "BOGUS"`},
		{"SESSION ADD STYLE=MASTER ID=x", "SESSION STATUS RESULT=I2P_ERROR", "a subsession cannot be PRIMARY"},
		{"SESSION ADD STYLE=STREAM", "SESSION STATUS RESULT=INVALID_ID", "ID is missing"},
		{"SESSION ADD STYLE=STREAM ID=a<b", "SESSION STATUS RESULT=INVALID_ID", "holds one of"},
		{"SESSION ADD STYLE=STREAM ID=s", "SESSION STATUS RESULT=DUPLICATED_ID", `a session with ID "s" exists`},
		{"SESSION ADD STYLE=STREAM ID=pr", "SESSION STATUS RESULT=DUPLICATED_ID", `a session with ID "pr" exists`},
		{"SESSION ADD STYLE=DATAGRAM ID=pd PORT=9", "SESSION STATUS RESULT=DUPLICATED_ID", `a session with ID "pd" exists`},
		{"SESSION ADD STYLE=STREAM ID=x DESTINATION=TRANSIENT", "SESSION STATUS RESULT=I2P_ERROR", "SESSION ADD takes no DESTINATION"},
		{"SESSION ADD STYLE=STREAM ID=x PORT=5", "SESSION STATUS RESULT=I2P_ERROR", "PORT is for DATAGRAM and RAW sessions, not STREAM"},
		{"SESSION ADD STYLE=STREAM ID=x LISTEN_PROTOCOL=18", "SESSION STATUS RESULT=I2P_ERROR", "LISTEN_PROTOCOL is for RAW subsessions"},
		{"SESSION ADD STYLE=STREAM ID=x LISTEN_PORT=65536", "SESSION STATUS RESULT=I2P_ERROR", `LISTEN_PORT="65536": want a number from 0 to 65535`},
		{"SESSION ADD STYLE=STREAM ID=x TO_PORT=http", "SESSION STATUS RESULT=I2P_ERROR", `TO_PORT="http"`},
		{"SESSION ADD STYLE=DATAGRAM ID=x", "SESSION STATUS RESULT=I2P_ERROR", "PORT is required for a DATAGRAM subsession"},
		{"SESSION ADD STYLE=RAW ID=x HOST=127.0.0.1", "SESSION STATUS RESULT=I2P_ERROR", "PORT is required for a RAW subsession"},
		{"SESSION ADD STYLE=DATAGRAM ID=x PORT=9 HEADER=true", "SESSION STATUS RESULT=I2P_ERROR", "HEADER is for RAW sessions"},
		{"SESSION ADD STYLE=RAW ID=x PORT=9 PROTOCOL=20", "SESSION STATUS RESULT=I2P_ERROR", "PROTOCOL=20 is not supported"},
		{"SESSION ADD STYLE=RAW ID=x PORT=9 LISTEN_PROTOCOL=6", "SESSION STATUS RESULT=I2P_ERROR", "LISTEN_PROTOCOL=6 is not supported"},
		{"SESSION ADD STYLE=DATAGRAM ID=x PORT=9", "SESSION STATUS RESULT=I2P_ERROR", `subsession "pd" already listens on port 0 for protocol 17 (DATAGRAM)`},
		{"SESSION ADD STYLE=STREAM ID=web FROM_PORT=80", ok + " ID=web", "ADD web"},
		{"SESSION ADD STYLE=STREAM ID=x LISTEN_PORT=80", "SESSION STATUS RESULT=I2P_ERROR", `subsession "web" already listens on port 80 for protocol 6 (STREAM)`},
		{"SESSION ADD STYLE=RAW ID=raw80 PORT=9 LISTEN_PORT=80 HEADER=true", ok + " ID=raw80", "ADD raw80"},
		{"SESSION REMOVE", "SESSION STATUS RESULT=INVALID_ID", "ID is missing"},
		{"SESSION REMOVE ID=nobody", "SESSION STATUS RESULT=INVALID_ID", `primary session "pr" has no subsession "nobody"`},
		{"SESSION REMOVE ID=s", "SESSION STATUS RESULT=INVALID_ID", `has no subsession "s"`},
		{"SESSION REMOVE ID=pr", "SESSION STATUS RESULT=INVALID_ID", `has no subsession "pr"`},
		{"SESSION REMOVE ID=web", ok + " ID=web", "REMOVE web"},
		{"SESSION REMOVE ID=web", "SESSION STATUS RESULT=INVALID_ID", `has no subsession "web"`},
		{"SESSION ADD STYLE=STREAM ID=web2 LISTEN_PORT=80", ok + " ID=web2", "ADD web2"},
		{"DATAGRAM SEND DESTINATION=" + b32 + " SIZE=1\nx", "DATAGRAM STATUS RESULT=I2P_ERROR", `session "pr" is a PRIMARY session`},
		{"STREAM ACCEPT ID=web2", "STREAM STATUS RESULT=I2P_ERROR", `controls session "pr"`},
	} {
		r := prim.cmd(tc.cmd)
		head, msg := splitMessage(r)
		if head != tc.result || !strings.Contains(msg, tc.msg) {
			t.Errorf("%.70s\n got: %.200v\nwant: %.200s MESSAGE=...%s...", tc.cmd, r, tc.result, tc.msg)
		}
	}
	if !prim.alive() {
		t.Error("the primary's control socket stopped answering")
	}
	if r := hello(t, e.addrs[0]).cmd("STREAM CONNECT ID=web DESTINATION=" + b32); r.Value("RESULT") != "INVALID_ID" {
		t.Errorf("STREAM CONNECT with a removed subsession's ID: %v", r)
	}
	// Lines longer than MaxLineLen cannot be resynchronised: answered and closed.
	c := hello(t, e.addrs[0])
	c.c.Write([]byte("NAMING LOOKUP NAME=" + strings.Repeat("a", sam.MaxLineLen)))
	if r := c.line(5 * time.Second); r.Value("RESULT") != "I2P_ERROR" || !strings.Contains(r.Value("MESSAGE"), "line too long") || !c.closed() {
		t.Errorf("overlong line: %v", r)
	}
	// Blank lines are ignored, QUIT closes.
	c = hello(t, e.addrs[0])
	c.send("   ")
	if !c.alive() {
		t.Error("blank line broke the socket")
	}
	c.send("quit")
	if !c.closed() {
		t.Error("QUIT did not close the socket")
	}
}

// TestDestGenerateRoundTrip: the PRIV of DEST GENERATE, given to SESSION
// CREATE, is the session's destination byte for byte, and NAMING LOOKUP
// NAME=ME answers its PUB.
func TestDestGenerateRoundTrip(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	c := hello(t, e.addrs[0])
	for _, st := range []string{"", " SIGNATURE_TYPE=7", " SIGNATURE_TYPE=EdDSA_SHA512_Ed25519", " SIGNATURE_TYPE=eddsa_sha512_ed25519 CRYPTO_TYPE=4"} {
		r := c.cmd("DEST GENERATE" + st)
		keys, err := data.ParsePrivateKeysBase64(r.Value("PRIV"))
		if !r.Is("DEST", "REPLY") || err != nil || keys.Destination().Base64() != r.Value("PUB") || keys.Destination().SigningType() != data.SigTypeEd25519 {
			t.Fatalf("DEST GENERATE%s: %.80v: %v", st, r, err)
		}
	}
	r := c.cmd("DEST GENERATE")
	pub, priv := r.Value("PUB"), r.Value("PRIV")
	ctrl := hello(t, e.addrs[0])
	r = ctrl.cmd("SESSION CREATE STYLE=STREAM ID=mine DESTINATION=" + priv + " " + fastTunnels)
	if r.Value("RESULT") != "OK" || r.Value("DESTINATION") != priv {
		t.Fatalf("SESSION CREATE with generated keys: %.100v", r)
	}
	if r := ctrl.cmd("NAMING LOOKUP NAME=ME"); r.String() != "NAMING REPLY RESULT=OK NAME=ME VALUE="+pub {
		t.Errorf("NAMING LOOKUP NAME=ME: %.100v", r)
	}
	dup := hello(t, e.addrs[0])
	if r := dup.cmd("SESSION CREATE STYLE=STREAM ID=other DESTINATION=" + priv); r.Value("RESULT") != "DUPLICATED_DEST" {
		t.Errorf("the same keys twice: %v", r)
	}
}

// TestNamingLookup: ME, base64, b32 of a session on another router (a
// network lookup), an unpublished b32 (KEY_NOT_FOUND), address book
// names, and b32 on a socket without a session (the shared destination).
func TestNamingLookup(t *testing.T) {
	t.Parallel()
	var hostDest data.Destination
	e := startEnv(t, envOptions{servers: 2, cfg: func(_ int, c *sam.Config) {
		c.LookupTimeout = 3 * time.Second
		c.Hosts = func(name string) (data.Destination, bool) {
			if name == "known.i2p" {
				return hostDest, true
			}
			return data.Destination{}, false
		}
	}})
	_, aKeys := session(t, e.addrs[0], "a", "STREAM", fastTunnels)
	bCtrl, bKeys := session(t, e.addrs[1], "b", "STREAM", fastTunnels)
	hostDest = aKeys.Destination()
	aB64, aB32 := aKeys.Destination().Base64(), aKeys.Destination().B32()

	for _, tc := range []struct{ name, want string }{
		{"ME", "NAMING REPLY RESULT=OK NAME=ME VALUE=" + bKeys.Destination().Base64()},
		{aB32, "NAMING REPLY RESULT=OK NAME=" + aB32 + " VALUE=" + aB64},
		{strings.ToUpper(aB32), "NAMING REPLY RESULT=OK NAME=" + strings.ToUpper(aB32) + " VALUE=" + aB64},
		{aB64, "NAMING REPLY RESULT=OK NAME=" + aB64 + " VALUE=" + aB64},
		{"known.i2p", "NAMING REPLY RESULT=OK NAME=known.i2p VALUE=" + aB64},
	} {
		if r := bCtrl.cmd("NAMING LOOKUP NAME=" + tc.name); r.String() != tc.want {
			t.Errorf("NAMING LOOKUP NAME=%.20s...\n got: %.120v\nwant: %.120s", tc.name, r, tc.want)
		}
	}
	unknown, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := bCtrl.cmd("NAMING LOOKUP NAME=" + unknown.Destination().B32())
	if r.Value("RESULT") != "KEY_NOT_FOUND" || r.Value("MESSAGE") == "" {
		t.Errorf("unknown b32: %v", r)
	}
	t.Logf("unknown b32: KEY_NOT_FOUND after %v", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	fresh := hello(t, e.addrs[0])
	if r := fresh.cmd("NAMING LOOKUP NAME=" + bKeys.Destination().B32()); r.Value("RESULT") != "OK" || r.Value("VALUE") != bKeys.Destination().Base64() {
		t.Errorf("b32 on a socket without a session: %.100v", r)
	}
	t.Logf("b32 lookup on a socket without a session (shared destination opened on demand) took %v", time.Since(start).Round(time.Millisecond))
}

// TestServerLifecycle: New needs a router; Serve runs once and returns
// when its context ends, closing its listener and sockets; a router that
// is not running refuses sessions with a message, while DEST GENERATE
// still works.
func TestServerLifecycle(t *testing.T) {
	if _, err := sam.New(sam.Config{}); !errors.Is(err, sam.ErrConfig) {
		t.Errorf("New without a router: %v", err)
	}
	r, err := router.New(router.Config{Datadir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv, err := sam.New(sam.Config{Router: r, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	c := hello(t, ln.Addr().String())
	if r := c.cmd("SESSION CREATE STYLE=STREAM ID=x DESTINATION=TRANSIENT"); r.Value("RESULT") != "I2P_ERROR" || !strings.Contains(r.Value("MESSAGE"), "router: not running") {
		t.Errorf("SESSION CREATE on a stopped router: %v", r)
	}
	if r := c.cmd("DEST GENERATE"); r.Value("PRIV") == "" {
		t.Errorf("DEST GENERATE: %v", r)
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ctx, ln2); !errors.Is(err, sam.ErrServing) {
		t.Errorf("second Serve: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if !c.closed() {
		t.Error("client socket open after Serve returned")
	}
	// Asked of the listener itself: dialling its old port can reach
	// another test's listener that got the port, or connect to itself.
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("listener after Serve returned: Accept gives %v, want net.ErrClosed", err)
	}
}
