package interop

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"i2pbridge/deploy/testnet"
)

// soakEnv makes TestEmbeddedRouterSoak wait until the bundled router has
// been up this long (a Go duration) before it judges the i2pd logs;
// unset, the soak is however long the suite took. `make soak` sets 10m.
const soakEnv = "I2PB_ROUTER_SOAK"

// i2pdNTCP2Problems are i2pd log lines (warn and error) that mean a peer
// broke an NTCP2 or netDb rule. In this network every NTCP2 peer but the
// i2pd routers themselves is our bundled router (the bridges use SAM).
var i2pdNTCP2Problems = regexp.MustCompile(`/(warn|error) - (` +
	`NTCP2: .*(AEAD verification failed|time difference|Signature verification failed|No NTCP2 address with static key|RouterInfo is too old|networkID|version mismatch|padding length|m3p2len|Unexpected|Unknown block|too long|Received length)|` +
	`NetDb: (Invalid RouterInfo length|Decompression failed|Database store msg .*too short)|` +
	`RouterInfo: (Buffer is too long|Identity length|Malformed|Signature verification failed|Unexpected|String length|'port'))`)

// TestEmbeddedRouterSoak runs last: the router TestEmbeddedRouterJoinsNetwork
// started has lived through the whole suite (and, with I2PB_ROUTER_SOAK,
// at least that long). It must still be up with sessions, no i2pd may
// have logged an NTCP2 or netDb problem, and it must stop cleanly.
func TestEmbeddedRouterSoak(t *testing.T) {
	n := needBinary(t)
	embedded.mu.Lock()
	b, started := embedded.b, embedded.started
	embedded.mu.Unlock()
	if b == nil {
		t.Fatal("the bundled router was not started (TestEmbeddedRouterJoinsNetwork did not run or failed early)")
	}
	dumpOnFailure(t, b)
	ctx := context.Background()
	if v := os.Getenv(soakEnv); v != "" {
		want, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", soakEnv, v, err)
		}
		for time.Since(started) < want {
			if !b.running() {
				t.Fatalf("the bundled router exited after %v: %v", time.Since(started).Round(time.Second), b.waitErr())
			}
			time.Sleep(min(10*time.Second, want-time.Since(started)+time.Millisecond))
		}
	}
	if !b.running() {
		t.Fatalf("the bundled router exited: %v", b.waitErr())
	}
	up := time.Since(started)
	st, err := b.routerStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bundled router up %v: %d routers known, %d sessions (%d in, %d out), transit now %d, accepted since start %d, clock-skew refusals %d",
		up.Round(time.Second), st.Routers, st.Sessions, st.Inbound, st.Outbound, st.Transit, st.Accepted, st.ClockSkew)
	t.Logf("sessions established since start: %d dialed by i2pd routers, %d by us", st.InTotal, st.OutTotal)
	if st.Sessions == 0 {
		t.Error("no NTCP2 sessions at the end of the soak")
	}
	// We connect to every router we know at once, so an i2pd router dials
	// us only when it needs us while no session is up; over the whole
	// suite (a router restart among it) that happens. A run of a few
	// tests (-run) is too short to ask for it.
	if (st.InTotal == 0 && up >= 5*time.Minute) || st.OutTotal == 0 {
		t.Errorf("sessions since start: %d dialed by i2pd, %d by us; want both", st.InTotal, st.OutTotal)
	}
	if st.ClockSkew != 0 {
		t.Errorf("%d handshakes refused for clock skew on one machine", st.ClockSkew)
	}
	embedded.mu.Lock()
	logFrom := embedded.logFrom
	embedded.mu.Unlock()
	for k := 1; k <= testnet.NumRouters; k++ {
		raw, err := os.ReadFile(n.Router(k).LogPath())
		if err != nil {
			t.Error(err)
			continue
		}
		// Only what i2pd logged once our router ran. Before it the i2pd
		// routers start among themselves, and 2.45.1 can send a RouterInfo
		// of its own torn by its own re-signing (it rewrites the buffer
		// while a transport sends it; fixed in i2pd 2.53.0, commit
		// acbd3f89): one run logged "RouterInfo: Signature verification
		// failed" 6 s before our router started.
		if off := logFrom[k]; off <= int64(len(raw)) {
			raw = raw[off:]
		}
		var bad []string
		for _, l := range strings.Split(string(raw), "\n") {
			if i2pdNTCP2Problems.MatchString(l) {
				bad = append(bad, l)
			}
		}
		if len(bad) > 0 {
			if len(bad) > 20 {
				bad = bad[:20]
			}
			t.Errorf("i2pd router %d logged NTCP2/netDb problems while our router was up:\n%s", k, strings.Join(bad, "\n"))
		}
	}
	if err := b.stop(); err != nil {
		t.Error(err)
	}
}
