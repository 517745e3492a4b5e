package interop

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// This file sorts right after a_router_test.go: it needs the bundled
// router that TestEmbeddedRouterJoinsNetwork started.

// The i2pd router that hosts the IRC tunnels facing the bundled router.
const ircI2pdRouter = 3

// TestEmbeddedIRCWithI2pd: IRC across i2pd and the bundled router, both
// ways, on one ngIRCd:
//   - carol's client → i2pd client tunnel (router 3) → irc-server on the
//     bundled router (WEBIRC) → ngIRCd;
//   - dave's client → irc-client on the bundled router → i2pd's IRC server
//     tunnel (type irc, router 3, its own WEBIRC) → ngIRCd.
//
// They meet in a channel and talk both ways; ngIRCd shows each by the
// b32 of the destination they came from.
func TestEmbeddedIRCWithI2pd(t *testing.T) {
	n := needBinary(t)
	b := embeddedBridge(t)
	dumpOnFailure(t, b)
	ircd := startNgircd(t, n, needNgircd(t))
	ctx := context.Background()

	ourIRCd, err := keygen(ctx, filepath.Join(b.dir, "data", "ircd-e.dat"))
	if err != nil {
		t.Fatal(err)
	}
	theirIRCd, err := keygen(ctx, filepath.Join(n.Router(ircI2pdRouter).Dir, "ircd-i2pd.dat"))
	if err != nil {
		t.Fatal(err)
	}
	const viaI2pd, viaOurs = "127.0.0.1:4483", "127.0.0.1:4484"
	host, port, _ := net.SplitHostPort(ircd)
	// Zero-hop outbound for i2pd's server: see startServersFixture (i2pd
	// 2.45 may not publish when inbound tunnels come first).
	i2pdTunnel(t, n, ircI2pdRouter, "ircd-i2pd", fmt.Sprintf(
		"type = irc\nhost = %s\nport = %s\nkeys = ircd-i2pd.dat\nwebircpassword = %s\ninbound.length = 1\noutbound.length = 0\n",
		host, port, webircPassword))
	i2pdTunnel(t, n, ircI2pdRouter, "irc-to-embedded", fmt.Sprintf(
		"type = client\naddress = 127.0.0.1\nport = 4483\ndestination = %s\ninbound.length = 1\noutbound.length = 1\n", ourIRCd))

	pools := "    inbound: {length: 2, quantity: 2}\n    outbound: {length: 2, quantity: 2}\n"
	addTunnels(t, b, fmt.Sprintf(`  - name: ircd-e
    type: irc-server
    target: %s
    keys: ircd-e.dat
    webirc_password: %s
%s  - name: irc-e
    type: irc-client
    listen: %s
    destination: %s
%s`, ircd, webircPassword, pools, viaOurs, theirIRCd, pools))
	st, err := b.waitRunning(ctx, 3*time.Minute, "ircd-e", "irc-e")
	if err != nil {
		t.Fatal(err)
	}
	daveB32 := st["irc-e"].Address

	start := time.Now()
	carol := registerVia(t, viaI2pd, "carol", 3*time.Minute)
	t.Logf("carol registered through i2pd → irc-server on the bundled router after %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	dave := registerVia(t, viaOurs, "dave", 3*time.Minute)
	t.Logf("dave registered through irc-client on the bundled router → i2pd IRC server tunnel after %v", time.Since(start).Round(time.Millisecond))

	// ngIRCd shows each by the b32 their tunnel's WEBIRC gave: carol by
	// i2pd's client destination (written by our irc-server), dave by our
	// irc-client's (written by i2pd's irc server tunnel).
	dave.send(t, "WHOIS carol")
	m := dave.wait(t, ` 311 dave carol (\S+) (\S+) \* `, time.Minute)
	if !strings.HasSuffix(m[2], ".b32.i2p") {
		t.Errorf("ngIRCd shows carol's host as %q, want the b32 of i2pd's client tunnel", m[2])
	}
	carol.send(t, "WHOIS dave")
	m = carol.wait(t, ` 311 carol dave (\S+) (\S+) \* `, time.Minute)
	if m[2] != daveB32 {
		t.Errorf("ngIRCd shows dave's host as %q, want our irc-client's b32 %s", m[2], daveB32)
	}

	rtt := chatInChannel(t, "#mix", "carol", carol, "dave", dave)
	t.Logf("channel round trip carol → dave → carol in %v", rtt.Round(time.Millisecond))
}

// registerVia connects an IRC client to addr (a client tunnel) and
// registers nick, retrying while the far end is not reachable yet: client
// tunnels close the local connection when the server's LeaseSet is not
// found.
func registerVia(t *testing.T, addr, nick string, limit time.Duration) *lineConn {
	t.Helper()
	welcome := regexp.MustCompile(` 001 ` + regexp.QuoteMeta(nick) + ` `)
	deadline := time.Now().Add(limit)
	for attempt := 1; ; attempt++ {
		lc := dialLines(t, addr)
		lc.send(t, "NICK "+nick, "USER "+nick+" 0 * :"+nick)
		for until := time.Now().Add(45 * time.Second); time.Now().Before(until); {
			for _, l := range lc.all() {
				if welcome.MatchString(l) {
					return lc
				}
			}
			if lc.eof() {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		lc.c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("%s could not register through %s in %v (%d attempts); last lines: %q", nick, addr, limit, attempt, lc.all())
		}
		time.Sleep(2 * time.Second)
	}
}

// chatInChannel has a and b (registered as an and bn) join channel and
// say one line each, each line checked on the other side, then quit; it
// returns the time from a's line to b's line arriving back at a.
func chatInChannel(t *testing.T, channel, an string, a *lineConn, bn string, b *lineConn) time.Duration {
	t.Helper()
	ch := regexp.QuoteMeta(channel)
	a.send(t, "JOIN "+channel)
	a.wait(t, `^:`+an+`!\S+ JOIN :?`+ch, time.Minute)
	b.send(t, "JOIN "+channel)
	a.wait(t, `^:`+bn+`!\S+ JOIN :?`+ch, time.Minute)
	start := time.Now()
	a.send(t, "PRIVMSG "+channel+" :hello from "+an)
	b.wait(t, `^:`+an+`!\S+ PRIVMSG `+ch+` :hello from `+an+`$`, time.Minute)
	b.send(t, "PRIVMSG "+channel+" :hello from "+bn)
	a.wait(t, `^:`+bn+`!\S+ PRIVMSG `+ch+` :hello from `+bn+`$`, time.Minute)
	rtt := time.Since(start)
	a.send(t, "QUIT :bye")
	b.send(t, "QUIT :bye")
	return rtt
}
