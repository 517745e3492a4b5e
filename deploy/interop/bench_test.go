package interop

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"i2pbridge/deploy/testnet"
	"i2pbridge/router/data"
)

// BenchmarkInterop (make bench-interop) compares, on one network and in
// one run, eepsite traffic between the two implementations in all four
// pairings: two bundled routers of ours (each an i2pbridge with an
// http-server and an http-proxy) join the five i2pd routers, and for each
// of
//
//	i2pbridge proxy → i2pbridge eepsite   (our router to our other router)
//	i2pbridge proxy → i2pd eepsite
//	i2pd proxy      → i2pbridge eepsite
//	i2pd proxy      → i2pd eepsite        (the harness's own pair)
//
// it fetches the 20 MiB file (twice) and the index page (20 times), then
// prints throughput, small-GET latency and every router's resident memory.
// Tunnel shapes match the harness's i2pd ones (proxy 1 hop each way;
// eepsite 1 hop in, 0 out), so the pairs differ only in whose code runs.
// Run it alone: `go test -run '^$' -bench Interop -benchtime 1x`.
func BenchmarkInterop(b *testing.B) {
	n := needBinary(b)
	ctx := context.Background()
	web := startEepsiteServer(b, n)

	type ours struct {
		proc  *bridgeProc
		site  string // b32 of its http-server
		proxy string // its http-proxy's listen address
	}
	var routers [2]ours
	for i := range routers {
		name := fmt.Sprintf("bench-%d", i+1)
		p, err := newBridge(name)
		if err != nil {
			b.Fatal(err)
		}
		dumpOnFailure(b, p)
		if err := seedWith(n, p, seedRouter); err != nil {
			b.Fatal(err)
		}
		site, err := keygen(ctx, filepath.Join(p.dir, "data", "web.dat"))
		if err != nil {
			b.Fatal(err)
		}
		proxy := fmt.Sprintf("127.0.0.1:%d", 4571+i)
		if err := p.writeConfig(fmt.Sprintf(`router:
  backend: embedded
  datadir: ./data
  netid: 99
  ntcp2: {listen: "198.18.0.%d:%d"}
  seed_dir: ./seed
`, 111+i, 12411+i)); err != nil {
			b.Fatal(err)
		}
		if err := p.start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.stop() })
		routers[i] = ours{proc: p, site: site, proxy: proxy}
	}
	// The tunnels come once each router knows the whole network (the five
	// i2pd routers and the other one of ours): built at once, a router
	// seeded with one RouterInfo would put every tunnel through that one
	// router for their ten minutes, and the pairs would measure it.
	for _, r := range routers {
		if waitUntil(ctx, 2*time.Minute, func() bool {
			st, err := r.proc.routerStatus(ctx)
			return err == nil && st.Routers >= testnet.NumRouters+1
		}) < 0 {
			b.Fatalf("%s does not know all %d other routers after 2 minutes", r.proc.name, testnet.NumRouters+1)
		}
		addTunnels(b, r.proc, fmt.Sprintf(`  - name: web
    type: http-server
    target: %s
    keys: web.dat
    inbound: {length: 1, quantity: 2}
    outbound: {length: 0, quantity: 2}
  - name: proxy
    type: http-proxy
    listen: %s
    inbound: {length: 1, quantity: 2}
    outbound: {length: 1, quantity: 2}
`, web.Addr(), r.proxy))
	}
	for _, r := range routers {
		if _, err := r.proc.waitRunning(ctx, 3*time.Minute, "web", "proxy"); err != nil {
			b.Fatal(err)
		}
	}
	proxyVia := func(addr string) *http.Client {
		return &http.Client{Transport: &http.Transport{
			Proxy:             http.ProxyURL(&url.URL{Scheme: "http", Host: addr}),
			DialContext:       n.NS.DialContext,
			DisableKeepAlives: true,
		}}
	}
	pairs := []struct {
		name   string
		client *http.Client
		site   string
	}{
		{"i2pbridge → i2pbridge", proxyVia(routers[0].proxy), routers[1].site},
		{"i2pbridge → i2pd", proxyVia(routers[0].proxy), n.EepsiteB32},
		{"i2pd → i2pbridge", n.ProxyClient(5 * time.Minute), routers[1].site},
		{"i2pd → i2pd", n.ProxyClient(5 * time.Minute), n.EepsiteB32},
	}
	type result struct {
		first        time.Duration
		rates        []float64 // MiB/s of each 20 MiB fetch
		median, p90  time.Duration
		small, fails int
	}
	results := make([]result, len(pairs))
	b.ResetTimer()
	for range b.N {
		for i, p := range pairs {
			var r result
			start := time.Now()
			if last, ok := waitIndex(ctx, p.client, p.site); !ok {
				b.Fatalf("%s: no page within 3 min; last: %s", p.name, last)
			}
			r.first = time.Since(start)
			// Warm: the first page opened the sessions; measure from here.
			var lat []time.Duration
			for range 20 {
				s := time.Now()
				status, body, err := httpGet(ctx, p.client, p.site, "/", 30*time.Second)
				if err != nil || status != http.StatusOK || !strings.Contains(string(body), testnet.IndexMarker) {
					r.fails++
					continue
				}
				lat = append(lat, time.Since(s))
			}
			slices.Sort(lat)
			if len(lat) > 0 {
				r.small, r.median, r.p90 = len(lat), lat[len(lat)/2], lat[len(lat)*9/10]
			}
			for range 2 {
				s := time.Now()
				status, body, err := httpGet(ctx, p.client, p.site, testnet.BigPath, 5*time.Minute)
				took := time.Since(s)
				if err != nil || status != http.StatusOK || !bytes.Equal(body, n.Big()) {
					r.fails++
					b.Logf("%s: %s: status %d, %d bytes, %v", p.name, testnet.BigPath, status, len(body), err)
					continue
				}
				r.rates = append(r.rates, float64(testnet.BigSize)/(1<<20)/took.Seconds())
			}
			results[i] = r
		}
	}
	b.StopTimer()

	var out bytes.Buffer
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "pair (proxy → eepsite)\tfirst page\t20 MiB, MiB/s\tsmall GET median\tp90\tfailed\n")
	for i, p := range pairs {
		r := results[i]
		rates := make([]string, len(r.rates))
		for j, v := range r.rates {
			rates[j] = strconv.FormatFloat(v, 'f', 2, 64)
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%v\t%v\t%d\n", p.name, r.first.Round(time.Millisecond), strings.Join(rates, ", "),
			r.median.Round(100*time.Microsecond), r.p90.Round(100*time.Microsecond), r.fails)
		if len(r.rates) > 0 {
			b.ReportMetric(slices.Max(r.rates), metricName(p.name)+"-MiB/s")
		}
		b.ReportMetric(float64(r.median.Microseconds())/1000, metricName(p.name)+"-GET-ms")
	}
	tw.Flush()
	fmt.Fprintf(&out, "\nresident memory (VmRSS) after the run:\n")
	for k := 1; k <= testnet.NumRouters; k++ {
		fmt.Fprintf(&out, "  i2pd router %d: %s\n", k, rss(n.Router(k).Pid()))
	}
	for i, r := range routers {
		fmt.Fprintf(&out, "  i2pbridge %d (bundled router + 2 tunnels): %s\n", i+1, rss(r.proc.pid()))
	}
	fmt.Fprintf(&out, "\ntunnels of the bundled routers' destinations (first 6 characters of each hop):\n")
	for i, r := range routers {
		for _, name := range []string{"web", "proxy"} {
			if _, show, err := clientHops(ctx, r.proc, name); err == nil {
				fmt.Fprintf(&out, "  i2pbridge %d %s: %s\n", i+1, name, show)
			}
		}
	}
	b.Logf("\n%s", out.String())
	fmt.Print(out.String())
}

// metricName makes a pair's name a benchmark unit: "i2pd → i2pbridge"
// becomes "i2pd-to-i2pbridge".
func metricName(pair string) string {
	return strings.ReplaceAll(strings.ReplaceAll(pair, " → ", "-to-"), " ", "")
}

// rss reads a process's resident set size from /proc.
func rss(pid int) string {
	if pid == 0 {
		return "not running"
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if kb, err := strconv.Atoi(f[0]); err == nil {
				return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
			}
		}
	}
	return "no VmRSS"
}

// seedWith writes i2pd router k's RouterInfo into p's seed folder.
func seedWith(n *testnet.Network, p *bridgeProc, k int) error {
	h, raw, err := i2pdHash(n, k)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(p.dir, "seed"), 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.dir, "seed", data.RouterInfoFileName(h)), raw, 0o644)
}
