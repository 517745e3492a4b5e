package interop

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"
)

// TestEveryTunnelKindOverOurSAM (issue 8): an i2pbridge with backend sam,
// pointed at the bundled router's SAM server, runs every tunnel kind, and
// i2pd is the peer of each:
//   - http-server, fetched through i2pd's HTTP proxy (router 3);
//   - http-proxy, fetching the i2pd-hosted eepsite;
//   - tcp-server, reached through an i2pd client tunnel (router 1);
//   - tcp-client, to the i2pd server tunnel on router 4;
//   - irc-server in front of ngIRCd, reached through an i2pd client tunnel
//     (router 3), and irc-client to i2pd's IRC server tunnel (router 3)
//     in front of the same ngIRCd; the two users talk in a channel.
func TestEveryTunnelKindOverOurSAM(t *testing.T) {
	n := needBinary(t)
	eb := embeddedBridge(t)
	ctx := context.Background()
	web := startEepsiteServer(t, n)
	ircd := startNgircd(t, n, needNgircd(t))
	echo := sharedEcho(t)
	theirEcho := i2pdEchoTunnel(t, n)

	b, err := newBridge("kinds-over-our-sam")
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, b, eb)
	keys := map[string]string{}
	for _, name := range []string{"web", "echo-in", "ircd"} {
		if keys[name], err = keygen(ctx, filepath.Join(b.dir, "data", name+".dat")); err != nil {
			t.Fatal(err)
		}
	}
	theirIRCd, err := keygen(ctx, filepath.Join(n.Router(ircI2pdRouter).Dir, "ircd-i2pd-sam.dat"))
	if err != nil {
		t.Fatal(err)
	}
	const (
		eepproxy, tcpClient, ircClient = "127.0.0.1:4491", "127.0.0.1:4492", "127.0.0.1:4493"
		i2pdToTCP, i2pdToIRC           = "127.0.0.1:4486", "127.0.0.1:4487"
	)
	pools := "    inbound: {length: 1, quantity: 2}\n    outbound: {length: 1, quantity: 2}\n"
	if err := b.writeConfig(fmt.Sprintf(`router: {backend: sam, sam: %q, datadir: ./data}
tunnels:
  - name: web
    type: http-server
    target: %s
    keys: web.dat
%s  - name: eepproxy
    type: http-proxy
    listen: %s
%s  - name: echo-in
    type: tcp-server
    target: %s
    keys: echo-in.dat
%s  - name: echo-out
    type: tcp-client
    listen: %s
    destination: %s
%s  - name: ircd
    type: irc-server
    target: %s
    keys: ircd.dat
    webirc_password: %s
%s  - name: irc
    type: irc-client
    listen: %s
    destination: %s
%s`, ourSAM, web.Addr(), pools, eepproxy, pools, echo.Addr(), pools, tcpClient, theirEcho, pools,
		ircd, webircPassword, pools, ircClient, theirIRCd, pools)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.stop() })
	names := []string{"web", "eepproxy", "echo-in", "echo-out", "ircd", "irc"}
	st, err := b.waitRunning(ctx, 2*time.Minute, names...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tunnels over our SAM server running %v after start", len(names), time.Since(start).Round(time.Millisecond))

	host, port, _ := net.SplitHostPort(ircd)
	i2pdTunnel(t, n, 1, "echo-to-sam", fmt.Sprintf(
		"type = client\naddress = 127.0.0.1\nport = 4486\ndestination = %s\ninbound.length = 1\noutbound.length = 1\n", keys["echo-in"]))
	i2pdTunnel(t, n, ircI2pdRouter, "ircd-i2pd-sam", fmt.Sprintf(
		"type = irc\nhost = %s\nport = %s\nkeys = ircd-i2pd-sam.dat\nwebircpassword = %s\ninbound.length = 1\noutbound.length = 0\n",
		host, port, webircPassword))
	i2pdTunnel(t, n, ircI2pdRouter, "irc-to-sam", fmt.Sprintf(
		"type = client\naddress = 127.0.0.1\nport = 4487\ndestination = %s\ninbound.length = 1\noutbound.length = 1\n", keys["ircd"]))

	// The subtests run side by side: most of their time is i2pd's first
	// LeaseSet lookup of each new destination (30–50 s), which overlaps.
	t.Run("http-server", func(t *testing.T) {
		t.Parallel()
		fetchSuite(t, n, "i2pd's HTTP proxy → http-server over our SAM", n.ProxyClient(5*time.Minute), keys["web"])
	})
	t.Run("http-proxy", func(t *testing.T) {
		t.Parallel()
		client := &http.Client{Transport: &http.Transport{
			Proxy:             http.ProxyURL(&url.URL{Scheme: "http", Host: eepproxy}),
			DialContext:       n.NS.DialContext,
			DisableKeepAlives: true,
		}}
		fetchSuite(t, n, "http-proxy over our SAM → i2pd eepsite", client, n.EepsiteB32)
	})
	for _, way := range []struct{ name, addr string }{
		{"tcp-server", i2pdToTCP},
		{"tcp-client", tcpClient},
	} {
		t.Run(way.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			c, _, attempts, err := waitEcho(ctx, way.addr, 3*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := time.Now()
			if _, err := echoOnce(c, payload(21, 1<<20), 2*time.Minute); err != nil {
				t.Fatalf("1 MiB echo: %v", err)
			}
			t.Logf("%s over our SAM with i2pd on the other side: first echo after %v (%d attempts), 1 MiB byte-identical in %v",
				way.name, time.Since(start).Round(time.Millisecond), attempts, time.Since(s).Round(time.Millisecond))
		})
	}
	t.Run("irc", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		erin := registerVia(t, i2pdToIRC, "erin", 3*time.Minute)
		t.Logf("erin registered through i2pd → irc-server over our SAM after %v", time.Since(start).Round(time.Millisecond))
		start = time.Now()
		frank := registerVia(t, ircClient, "frank", 3*time.Minute)
		t.Logf("frank registered through irc-client over our SAM → i2pd IRC server tunnel after %v", time.Since(start).Round(time.Millisecond))
		erin.send(t, "WHOIS frank")
		if m := erin.wait(t, ` 311 erin frank (\S+) (\S+) \* `, time.Minute); m[2] != st["irc"].Address {
			t.Errorf("ngIRCd shows frank's host as %q, want the irc-client's b32 %s", m[2], st["irc"].Address)
		}
		rtt := chatInChannel(t, "#sam", "erin", erin, "frank", frank)
		t.Logf("channel round trip erin → frank → erin in %v", rtt.Round(time.Millisecond))
	})
}
