//go:build linux

package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"i2pbridge/router/crypto"
	"i2pbridge/router/data"
	"i2pbridge/router/i2np"
	"i2pbridge/router/internal/i2pdtest"
	"i2pbridge/router/netx"
	"i2pbridge/router/ntcp2"
)

// TestInteropClockSkewWithI2pd: two of our routers whose NTCP2 clocks are
// 90 s ahead (P) and 90 s behind (M) of an i2pd 2.45 router E's, each
// knowing E and known to E, in the netdb test's namespace:
//
//	E 198.19.1.1   i2pd, not a floodfill, seeded with P and M (floodfills,
//	               so E publishes to them and dials them: E is Alice)
//	P 198.19.1.100 ours, clock +90 s, seeded with E (we dial: we are Alice)
//	M 198.19.1.101 ours, clock −90 s, seeded with E
//
// Both directions must be refused cleanly: E logs "SessionRequest time
// difference ∓90" (it answers with SessionCreated and closes) and
// "SessionCreated time difference ∓90" (our answer to its request carried
// our time); we log a clock-skew refusal for our dials and for E's; no
// session ever forms; neither side logs anything else (AEAD failures,
// bad RouterInfo, …).
// sourceBound is the namespace network with dials leaving from ip, our
// published address: i2pd refuses a second pending handshake from one
// source address ("Incoming session from … is already pending"), and by
// default every dial here would leave from the namespace's first address.
func sourceBound(ip string) *netx.Namespace {
	return &netx.Namespace{Name: i2pdNS, TCP: netx.TCP{Dialer: net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}}}
}

func TestInteropClockSkewWithI2pd(t *testing.T) {
	i2pd := i2pdtest.Require(t, true)
	i2pdtest.LockFile(t, i2pdLock)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	netns := i2pdtest.NewNamespace(t, i2pdNS, "198.19.1.1/24", "198.19.1.100/32", "198.19.1.101/32")
	base := interopDir(t, "i2pb-skew-")

	E := &i2pdNode{name: "E", dir: filepath.Join(base, "i2pd-E"), addr: netip.MustParseAddrPort("198.19.1.1:12345")}
	E.keys, E.static = newKeys(t)
	E.seed = seedRI(t, E.keys, E.static, E.addr, "OR")
	seedE := filepath.Join(base, "seed-E")
	i2pdtest.WriteFile(t, filepath.Join(seedE, data.RouterInfoFileName(E.hash())), E.seed.Bytes(), 0o644)

	ourLog, logMu, logger := ourLogger(t, base)
	type ours struct {
		name string
		skew time.Duration
		r    *Router
	}
	routers := []*ours{{name: "P", skew: 90 * time.Second}, {name: "M", skew: -90 * time.Second}}
	var seeds []data.RouterInfo
	for i, o := range routers {
		skew := o.skew
		r, err := New(Config{
			Datadir: filepath.Join(base, "ours-"+o.name), NetID: i2pdNetID, Floodfill: true,
			NTCP2Listen: fmt.Sprintf("198.19.1.%d:12345", 100+i), SeedDir: seedE,
			Logger: logger.With("ours", o.name), Net: sourceBound(fmt.Sprintf("198.19.1.%d", 100+i)),
			Clock: func() time.Time { return time.Now().Add(skew) },
		})
		if err != nil {
			t.Fatal(err)
		}
		o.r = r
		seeds = append(seeds, r.RouterInfo())
	}
	writeI2pdDir(t, E, seeds)
	E.start(t, netns, i2pd)
	t.Cleanup(E.stop)

	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for _, o := range routers {
		wg.Go(func() {
			if err := o.r.Run(runCtx); err != nil {
				t.Errorf("Run %s: %v", o.name, err)
			}
		})
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("=== i2pd E NTCP2 events:\n%s", i2pdtest.Grep(E.log(), regexp.MustCompile(`NTCP2`), 80))
			logMu.Lock()
			t.Logf("=== our log:\n%s", i2pdtest.Tail(ourLog.Name(), 150))
			logMu.Unlock()
		}
	})

	// Our dials: E is no floodfill, so nothing makes our routers talk to
	// it on their own (no exploration without floodfills); send it a
	// DeliveryStatus, which dials. One after the other: in this namespace
	// every dial leaves from the same source address, and i2pd refuses a
	// second pending handshake from one address ("Incoming session from …
	// is already pending").
	dialErr := make(map[string]error)
	var dmu sync.Mutex
	wg.Go(func() {
		// Wait until E listens, so that the dial reaches its handshake.
		i2pdtest.WaitFor(ctx, 20*time.Second, func() bool {
			return i2pdtest.Contains(E.log(), regexp.MustCompile(`NTCP2: Start listening v4 TCP port`))
		})
		for _, o := range routers {
			m, err := i2np.NewMessage(77, i2np.ExpirationMillis(time.Now().Add(time.Minute)), i2np.DeliveryStatus{MessageID: 77, Timestamp: uint64(time.Now().UnixMilli())})
			if err == nil {
				err = o.r.Transport().Send(ctx, E.hash(), m)
			}
			dmu.Lock()
			dialErr[o.name] = err
			dmu.Unlock()
			time.Sleep(time.Second) // let E finish with this connection
		}
	})

	// i2pd's messages give ts − ours: −90 for P, +90 for M (±5 s of
	// scheduling slack).
	want := map[string]*regexp.Regexp{
		"E refused P's SessionRequest (we dialled)": regexp.MustCompile(`NTCP2: SessionRequest time difference -(8[5-9]|9[0-5]) exceeds clock skew`),
		"E refused M's SessionRequest (we dialled)": regexp.MustCompile(`NTCP2: SessionRequest time difference (8[5-9]|9[0-5]) exceeds clock skew`),
		"E refused P's SessionCreated (E dialled)":  regexp.MustCompile(`NTCP2: SessionCreated time difference -(8[5-9]|9[0-5]) exceeds clock skew`),
		"E refused M's SessionCreated (E dialled)":  regexp.MustCompile(`NTCP2: SessionCreated time difference (8[5-9]|9[0-5]) exceeds clock skew`),
		"P refused E's SessionRequest (E dialled)":  regexp.MustCompile(`handshake refused for clock skew.* ours=P .*peer=inbound`),
		"M refused E's SessionRequest (E dialled)":  regexp.MustCompile(`handshake refused for clock skew.* ours=M .*peer=inbound`),
	}
	for what, re := range want {
		path := E.log()
		if strings.HasPrefix(what, "P ") || strings.HasPrefix(what, "M ") {
			path = ourLog.Name()
		}
		took := i2pdtest.WaitFor(ctx, 90*time.Second, func() bool {
			logMu.Lock()
			defer logMu.Unlock()
			return i2pdtest.Contains(path, re)
		})
		if took < 0 {
			t.Errorf("not seen within 90 s: %s (%s)", what, re)
			continue
		}
		t.Logf("%-45s seen", what)
	}
	for _, o := range routers {
		dmu.Lock()
		err := dialErr[o.name]
		dmu.Unlock()
		// i2pd's message 2 to a skewed request is keyed to a hash over its
		// unread buffer, not our padding (see ntcp2.Initiator.skewedReply):
		// we recognise it when that buffer was zeros, otherwise it cannot
		// be opened. Either way E logged the refusal (checked above).
		switch {
		case errors.Is(err, ntcp2.ErrClockSkew):
			t.Logf("%s's send to E refused, recognised as clock skew: %v", o.name, err)
		case errors.Is(err, crypto.ErrAuthFailed) && strings.Contains(err.Error(), "session created"):
			t.Logf("%s's send to E refused; E's message 2 was keyed to its unread buffer: %v", o.name, err)
		default:
			t.Errorf("%s's send to E: %v, want a refusal at message 2", o.name, err)
		}
		st := o.r.Status(ctx)
		for _, p := range st.Peers {
			if p.Hash == E.hash() {
				t.Errorf("%s holds a session with E despite a 90 s clock difference: %+v", o.name, p)
			}
		}
		t.Logf("%s (clock %+v): %d handshakes refused for clock skew, %d sessions", o.name, o.skew, st.ClockSkew, st.Sessions)
		if st.ClockSkew < 2 {
			t.Errorf("%s counted %d clock-skew refusals, want both directions", o.name, st.ClockSkew)
		}
	}
	// Anything else i2pd complains about is a fault of ours.
	skewLines := regexp.MustCompile(`time difference`)
	lines, _ := i2pdtest.GrepLines(E.log(), i2pdProblems)
	for _, l := range lines {
		if !skewLines.MatchString(l) {
			t.Errorf("i2pd E logged a protocol problem other than clock skew: %s", l)
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("i2pd E's clock-skew lines:\n%s", i2pdtest.Grep(E.log(), skewLines, 10))
}
