package interop

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"i2pbridge/deploy/testnet"
)

// Named to sort after every scenario that needs all five i2pd routers and
// before the router restart (z_router_restart_test.go): killing a router
// disturbs the network for a while.

// TestBulkTransferSurvivesKilledHop (issue 7): a 50 MiB echo between a
// tcp-client on the bundled router and the i2pd server tunnel on router 4
// (both directions at once, 100 MiB carried) while one i2pd router that
// carries a tunnel of our destination is killed mid-transfer. The stream
// must finish byte-identical: our streaming retransmits through the other
// tunnels and leases, our pool replaces the dead tunnel, and i2pd's side
// switches away from it too. The killed router is started again at the
// end.
func TestBulkTransferSurvivesKilledHop(t *testing.T) {
	n := needBinary(t)
	b := embeddedBridge(t)
	dumpOnFailure(t, b)
	ctx := context.Background()
	target := i2pdEchoTunnel(t, n)
	const listen = "127.0.0.1:4485"
	// Two hops each way, three tunnels: one dead hop leaves working ones.
	pools := "    inbound: {length: 2, quantity: 3}\n    outbound: {length: 2, quantity: 3}\n"
	addTunnels(t, b, fmt.Sprintf(`  - name: bulk
    type: tcp-client
    listen: %s
    destination: %s
%s`, listen, target, pools))
	if _, err := b.waitRunning(ctx, 3*time.Minute, "bulk"); err != nil {
		t.Fatal(err)
	}
	c, _, attempts, err := waitEcho(ctx, listen, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("bulk: first echo after %d attempts", attempts)

	// The i2pd routers by hash, except router 4 (the far end itself).
	routers := map[string]int{}
	for k := 1; k <= testnet.NumRouters; k++ {
		if k == 4 {
			continue
		}
		h, _, err := i2pdHash(n, k)
		if err != nil {
			t.Fatal(err)
		}
		routers[h.Base64()] = k
	}

	const size = 50 << 20
	p := payload(11, size)
	c.SetDeadline(time.Now().Add(8 * time.Minute))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(p)
		werr <- err
	}()
	got := make([]byte, 0, size)
	buf := make([]byte, 64<<10)
	start := time.Now()
	var killed, victim int
	var killedAt, killedHops string
	var stall time.Duration // the longest wait for data after the kill
	last := time.Now()
	for len(got) < size {
		m, err := c.Read(buf)
		got = append(got, buf[:m]...)
		if now := time.Now(); killed > 0 {
			stall = max(stall, now.Sub(last))
			last = now
		} else {
			last = now
		}
		if err != nil {
			t.Fatalf("read after %d of %d bytes (%v after start, router %d killed at %s): %v",
				len(got), size, time.Since(start).Round(time.Millisecond), victim, killedAt, err)
		}
		if killed == 0 && len(got) >= 15<<20 {
			victim, killedHops, err = pickVictim(ctx, b, routers)
			if err != nil {
				t.Fatal(err)
			}
			r := n.Router(victim)
			if err := r.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = len(got)
			killedAt = time.Since(start).Round(time.Millisecond).String()
			t.Cleanup(func() {
				if err := r.Start(context.Background()); err != nil {
					t.Errorf("restarting router %d: %v", victim, err)
				}
			})
			t.Logf("killed i2pd router %d after %d MiB echoed (%s); our tunnels then: %s", victim, killed>>20, killedAt, killedHops)
		}
	}
	took := time.Since(start)
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, p) {
		i := 0
		for i < len(got) && got[i] == p[i] {
			i++
		}
		t.Fatalf("50 MiB echo differs from what was sent at byte %d", i)
	}
	// The rest of the stream still works after the kill.
	if _, err := echoOnce(c, payload(12, 1<<20), 2*time.Minute); err != nil {
		t.Errorf("1 MiB more on the same stream after the kill: %v", err)
	}
	_, after, err := clientHops(ctx, b, "bulk")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("50 MiB each way byte-identical in %v (%.2f MiB/s each way) with router %d killed at %s; longest stall after it %v; our tunnels now: %s",
		took.Round(time.Millisecond), float64(size)/(1<<20)/took.Seconds(), victim, killedAt, stall.Round(time.Millisecond), after)
}

// clientHops returns the hop hashes of the embedded destination name's
// tunnels, from `i2pbridge status -json`, and a short rendering of them.
func clientHops(ctx context.Context, b *bridgeProc, name string) ([]string, string, error) {
	st, err := b.routerStatus(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, c := range st.Clients {
		if c.Name != name {
			continue
		}
		var hops []string
		var show bytes.Buffer
		for i, set := range [][][]string{c.InboundHops, c.OutboundHops} {
			fmt.Fprintf(&show, "%s[", []string{"in", " out"}[i])
			for j, t := range set {
				if j > 0 {
					show.WriteString(" ")
				}
				for k, h := range t {
					if k > 0 {
						show.WriteString(">")
					}
					show.WriteString(h[:6])
					hops = append(hops, h)
				}
			}
			show.WriteString("]")
		}
		return hops, show.String(), nil
	}
	return nil, "", fmt.Errorf("no destination %q in the router status", name)
}

// pickVictim chooses the i2pd router (among routers) that carries the
// most of our destination's tunnels.
func pickVictim(ctx context.Context, b *bridgeProc, routers map[string]int) (int, string, error) {
	hops, show, err := clientHops(ctx, b, "bulk")
	if err != nil {
		return 0, "", err
	}
	count := map[int]int{}
	for _, h := range hops {
		if k, ok := routers[h]; ok {
			count[k]++
		}
	}
	if len(count) == 0 {
		return 0, show, fmt.Errorf("none of our tunnels goes through i2pd routers %v: %s", slices.Sorted(maps.Values(routers)), show)
	}
	best := 0
	for k, c := range count {
		if best == 0 || c > count[best] || (c == count[best] && k < best) {
			best = k
		}
	}
	return best, show, nil
}
