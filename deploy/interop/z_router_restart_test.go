package interop

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// This file is named to sort last: go test runs files in name order, and
// killing a router disturbs the whole network for minutes (leases through
// it die until tunnel tests notice), which would make unrelated scenarios
// after it flaky.

// Scenario c: the i2pd under B is killed and restarted; B (not restarted)
// re-creates its SAM session and its tunnel carries streams again within
// 60 s.
func TestClientRecoversAfterRouterRestart(t *testing.T) {
	p := pair(t)
	n := suite.net
	ctx := context.Background()
	c, _, _, err := waitEcho(ctx, listenB, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	pid := p.b.pid()

	r := n.Router(routerB)
	if err := r.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	// Each connection gets 15 s, as an impatient user would give it: a
	// stream opened while the restarted i2pd is still looking up A's
	// LeaseSet through its first tunnels can stall (seen once for 40 s, while
	// a fresh stream a moment later went through at once).
	c, _, attempts, err := waitEchoEvery(ctx, listenB, 60*time.Second, 15*time.Second)
	if err != nil {
		st, serr := p.b.status(ctx)
		// Tell the cases apart for whoever fixes it: does a fresh B (new
		// transient keys, new SAM session) get through? This also leaves
		// the pair working for the next scenarios.
		fresh := "restarting B failed: "
		if rerr := p.b.stop(); rerr != nil {
			fresh += rerr.Error()
		} else if rerr := p.b.start(); rerr != nil {
			fresh += rerr.Error()
		} else if _, rerr := p.b.waitRunning(ctx, startWait, "echo-out"); rerr != nil {
			fresh += rerr.Error()
		} else if c2, _, _, rerr := waitEcho(ctx, listenB, 90*time.Second); rerr != nil {
			fresh = "a restarted B (new keys) does not get through either: " + rerr.Error()
		} else {
			c2.Close()
			fresh = fmt.Sprintf("a restarted B (new keys) gets through %s after the router was back",
				time.Since(restarted).Round(time.Millisecond))
		}
		t.Fatalf("B (not restarted) did not recover within 60s of its router's restart: %v\nB's status then: %+v %v\n%s",
			err, st["echo-out"], serr, fresh)
	}
	c.Close()
	recovery := time.Since(restarted)
	if got := p.b.pid(); got != pid {
		t.Errorf("i2pbridge B pid changed from %d to %d: it was restarted", pid, got)
	}
	st, err := p.b.status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("router %d killed and restarted: B's tunnel works again %s after the router was back (%s after the kill, %d attempts); echo-out state %s, restarts %d",
		routerB, recovery.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), attempts,
		st["echo-out"].State, st["echo-out"].Restarts)
}
