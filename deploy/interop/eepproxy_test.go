package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"i2pbridge/deploy/testnet"
	"i2pbridge/router/data"
)

// The eepproxy scenarios. Two i2pbridge processes:
//
//   - "ep-server" (SAM on router 4) publishes a recording web server as a
//     tcp-server tunnel (the eepsite whose received headers are checked)
//     and runs three outproxy tunnels in front of a "clearnet" web server
//     at 198.18.0.50 inside the namespace: one direct, one through squid
//     as upstream, one with the default guard (which must refuse the
//     198.18.0.0/15 test network).
//   - "ep-proxy" (SAM on router 2) runs three http-proxy tunnels, one per
//     outproxy, with a hosts.txt naming the recording site mysite.i2p.
//
// curl and headless Chromium run inside the namespace against the proxies.
// Needs curl, chromium and squid (Debian packages) besides the suite's
// prerequisites.
const (
	epServerRouter = 4
	// The eepproxy's router is not a floodfill: i2pd 2.45.1 on a
	// floodfill misreads the LeaseSet2 its own netDb stores for a client
	// destination ("Incorrect number of leases") and never connects.
	epProxyRouter = 2
	proxyDirect   = "127.0.0.1:14444"
	proxySquid    = "127.0.0.1:14445"
	proxyStrict   = "127.0.0.1:14446"
	clearnetHTTP  = "198.18.0.50:8080"
	clearnetTLS   = "198.18.0.50:8443"
	squidListen   = "127.0.0.1:13128"
	siteName      = "mysite.i2p"
	// fetchWait bounds the wait for a destination's leaseset to be found
	// through a freshly started proxy.
	fetchWait = 3 * time.Minute
)

// recorder is a web server inside the namespace that records the headers
// of every request it receives.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (rec *recorder) record(r *http.Request) {
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r.Clone(context.Background()))
	rec.mu.Unlock()
}

// find returns the requests whose path is path.
func (rec *recorder) find(path string) []*http.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []*http.Request
	for _, r := range rec.reqs {
		if r.URL.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// wire renders what the server received of r, for searching leaks.
func wire(r *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\n", r.Method, r.RequestURI, r.Proto, r.Host)
	r.Header.Write(&b)
	return b.String()
}

// sitePage is the recording eepsite's index: the image's onload handler
// writes its size into the DOM, which headless Chromium dumps.
const sitePage = `<!doctype html>
<html><head><title>i2pbridge eepproxy interop</title></head><body>
<p id="status">image pending</p>
<img id="px" src="/pixel.png" alt="pixel"
 onload="document.getElementById('status').textContent='image loaded '+this.naturalWidth+'x'+this.naturalHeight"
 onerror="document.getElementById('status').textContent='image failed'">
</body></html>
`

func pixelPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, color.RGBA{R: 200, G: uint8(x * 6), B: uint8(y * 8), A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// serveRecorder serves h on addr inside the namespace, recording into rec.
func serveRecorder(t *testing.T, addr string, rec *recorder, h http.Handler, tlsToo bool) string {
	t.Helper()
	ln, err := suite.net.NS.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.record(r)
		h.ServeHTTP(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	if tlsToo {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return ln.Addr().String()
}

// needTools fails (CI=true) or skips the test when a program is missing.
func needTools(t *testing.T, names ...string) {
	t.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("missing %s (apt-get install -y %s)", strings.Join(missing, ", "), strings.Join(missing, " "))
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: %s", msg)
	}
	t.Skip("skipping: " + msg) // under CI=true: Fatalf above
}

// startSquid runs squid inside the namespace as a forward proxy on
// squidListen that adds no client headers, and returns its access log.
func startSquid(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "i2pbridge-squid-")
	if err != nil {
		t.Fatal(err)
	}
	// squid drops root for the "proxy" user: it must be able to write here.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "squid.conf")
	accessLog := filepath.Join(dir, "access.log")
	cfg := fmt.Sprintf(`# written by deploy/interop
http_port %s
pid_filename %s
access_log stdio:%s
cache_log %s
cache_store_log none
coredump_dir %s
cache deny all
visible_hostname i2pbridge-interop-squid
# An outproxy's upstream must not tell the site about its client.
via off
forwarded_for delete
acl SSL_ports port 443 8443
acl CONNECT method CONNECT
http_access deny CONNECT !SSL_ports
http_access allow localhost
http_access deny all
shutdown_lifetime 1 seconds
`, squidListen, filepath.Join(dir, "squid.pid"), accessLog, filepath.Join(dir, "cache.log"), dir)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := suite.net.NS.Command("squid", "-N", "-f", conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := suite.net.NS.Start(cmd); err != nil {
		t.Fatalf("start squid: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		c, err := suite.net.NS.DialContext(ctx, "tcp", squidListen)
		if err == nil {
			c.Close()
			return accessLog
		}
		select {
		case <-done:
			logs, _ := os.ReadFile(filepath.Join(dir, "stderr.log"))
			cl, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
			t.Fatalf("squid exited before listening:\n%s\n%s", logs, cl)
		case <-ctx.Done():
			t.Fatalf("squid did not listen on %s: %v", squidListen, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// curlResult is what curlVia reports.
type curlResult struct {
	status int
	body   []byte
	speed  float64 // bytes per second
	took   time.Duration
}

// curlVia runs curl inside the namespace through proxy and returns the
// response status and body.
func curlVia(ctx context.Context, proxy, url string, extra ...string) (curlResult, error) {
	out, err := os.CreateTemp("", "i2pbridge-curl-")
	if err != nil {
		return curlResult{}, err
	}
	out.Close()
	defer os.Remove(out.Name())
	// Later options win in curl: a caller may pass a longer --max-time.
	args := append([]string{"-sS", "--max-time", "60", "-x", "http://" + proxy, "-o", out.Name(),
		"-w", "%{http_code} %{speed_download} %{time_total}"}, extra...)
	args = append(args, url)
	cmd := suite.net.NS.Command("curl", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := suite.net.NS.Start(cmd); err != nil {
		return curlResult{}, err
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err = <-waitErr:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-waitErr
		return curlResult{}, ctx.Err()
	}
	if err != nil {
		return curlResult{}, fmt.Errorf("curl %s: %w: %s", url, err, strings.TrimSpace(stderr.String()))
	}
	var r curlResult
	var secs float64
	if _, err := fmt.Sscan(stdout.String(), &r.status, &r.speed, &secs); err != nil {
		return curlResult{}, fmt.Errorf("curl %s: odd -w output %q", url, stdout.String())
	}
	r.took = time.Duration(secs * float64(time.Second))
	r.body, err = os.ReadFile(out.Name())
	return r, err
}

// curlUntil repeats curlVia until the status is want (while the proxy
// answers error pages because the leaseset is not found yet), up to limit.
func curlUntil(t *testing.T, limit time.Duration, want int, proxy, url string, extra ...string) curlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var last string
	for attempt := 1; ; attempt++ {
		r, err := curlVia(ctx, proxy, url, extra...)
		switch {
		case err != nil:
			last = err.Error()
		case r.status == want:
			if attempt > 1 {
				t.Logf("%s answered %d after %d attempts", url, want, attempt)
			}
			return r
		default:
			last = fmt.Sprintf("status %d: %s", r.status, summarize(r.body))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waited %s for %s through %s to answer %d; last: %s", limit, url, proxy, want, last)
		case <-time.After(2 * time.Second):
		}
	}
}

func summarize(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// epFixture is everything the eepproxy scenarios share.
type epFixture struct {
	n             *testnet.Network
	server, proxy *bridgeProc
	siteB32       string
	site, clear   *recorder
	squidLog      string
}

func destBase64(path string) (string, error) {
	k, err := data.LoadPrivateKeyFile(path)
	if err != nil {
		return "", err
	}
	return k.Destination().Base64(), nil
}

func startEepproxyFixture(t *testing.T) *epFixture {
	t.Helper()
	n := needBinary(t)
	needTools(t, "curl", "chromium", "squid")
	ctx := context.Background()
	f := &epFixture{n: n, site: &recorder{}, clear: &recorder{}}

	pixel := pixelPNG()
	siteMux := http.NewServeMux()
	siteMux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(sitePage))
	})
	siteMux.HandleFunc("GET /pixel.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(pixel)
	})
	siteMux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("recorded\n")) })
	siteAddr := serveRecorder(t, "127.0.0.1:0", f.site, siteMux, false)
	clearHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "clearnet %s", r.URL.Path)
	})
	serveRecorder(t, clearnetHTTP, f.clear, clearHandler, false)
	serveRecorder(t, clearnetTLS, f.clear, clearHandler, true)
	f.squidLog = startSquid(t)

	var err error
	if f.server, err = newBridge("ep-server"); err != nil {
		t.Fatal(err)
	}
	if f.proxy, err = newBridge("ep-proxy"); err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, f.server, f.proxy)
	b32 := map[string]string{}
	for _, name := range []string{"site", "exit", "exit-squid", "exit-strict"} {
		if b32[name], err = keygen(ctx, filepath.Join(f.server.dir, "data", name+".dat")); err != nil {
			t.Fatal(err)
		}
	}
	f.siteB32 = b32["site"]
	siteDest, err := destBase64(filepath.Join(f.server.dir, "data", "site.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.proxy.dir, "data", "hosts.txt"), []byte(siteName+"="+siteDest+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pools := "    inbound: {length: 1, quantity: 2}\n    outbound: {length: 1, quantity: 2}\n"
	// Server destinations get zero-hop outbound tunnels, which exist at
	// once: i2pd 2.45.1 publishes a leaseset only when inbound tunnels
	// change and gives up for good if no outbound tunnel exists at that
	// moment (see waitPublished).
	serverPools := "    inbound: {length: 1, quantity: 2}\n    outbound: {length: 0, quantity: 2}\n"
	server := fmt.Sprintf(`# ep-server: written by deploy/interop
router: {backend: sam, sam: %s, datadir: ./data}
tunnels:
  - name: site
    type: tcp-server
    target: %s
    keys: site.dat
%s  - name: exit
    type: outproxy
    keys: exit.dat
    allow_cidrs: [198.18.0.0/15]
%s  - name: exit-squid
    type: outproxy
    keys: exit-squid.dat
    upstream: %s
    allow_cidrs: [198.18.0.0/15]
%s  - name: exit-strict
    type: outproxy
    keys: exit-strict.dat
%s`, n.Router(epServerRouter).SAMAddr(), siteAddr, serverPools, serverPools, squidListen, serverPools, serverPools)
	proxy := fmt.Sprintf(`# ep-proxy: written by deploy/interop
router: {backend: sam, sam: %s, datadir: ./data}
tunnels:
  - name: direct
    type: http-proxy
    listen: %s
    addressbook: [hosts.txt]
    outproxies: [%s]
%s  - name: squid
    type: http-proxy
    listen: %s
    outproxies: [%s]
%s  - name: strict
    type: http-proxy
    listen: %s
    outproxies: [%s]
%s`, n.Router(epProxyRouter).SAMAddr(), proxyDirect, b32["exit"], pools, proxySquid, b32["exit-squid"], pools, proxyStrict, b32["exit-strict"], pools)
	if err := f.server.writeConfig(server); err != nil {
		t.Fatal(err)
	}
	if err := f.proxy.writeConfig(proxy); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*bridgeProc{f.server, f.proxy} {
		if err := b.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.stop(); err != nil {
				t.Error(err)
			}
		})
	}
	start := time.Now()
	if _, err := f.server.waitRunning(ctx, startWait, "site", "exit", "exit-squid", "exit-strict"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.proxy.waitRunning(ctx, startWait, "direct", "squid", "strict"); err != nil {
		t.Fatal(err)
	}
	t.Logf("eepproxy bridges running %s after start", time.Since(start).Round(time.Millisecond))
	f.waitPublished(t)
	return f
}

// probes are what must answer before the scenarios run: the site, and each
// outproxy (the strict one by refusing).
func (f *epFixture) probes() []struct {
	proxy, url string
	want       int
} {
	return []struct {
		proxy, url string
		want       int
	}{
		{proxyDirect, "http://" + siteName + "/headers", http.StatusOK},
		{proxyDirect, "http://" + clearnetHTTP + "/probe", http.StatusOK},
		{proxySquid, "http://" + clearnetHTTP + "/probe", http.StatusOK},
		{proxyStrict, "http://" + clearnetHTTP + "/probe", http.StatusForbidden},
	}
}

// waitPublished waits until the server bridge's destinations answer
// through the proxies. i2pd 2.45.1 tries to publish a new destination's
// leaseset only when its inbound tunnels change, and gives up for good if
// no outbound tunnel exists yet at that moment ("Destination is not
// ready"); the leaseset then stays unpublished until the tunnels are
// rebuilt, ten minutes later. The server tunnels' zero-hop outbound pools
// avoid that; should it happen anyway the server bridge is restarted (same
// keys, new SAM sessions, another try).
func (f *epFixture) waitPublished(t *testing.T) {
	t.Helper()
	const rounds = 3
	for round := 1; ; round++ {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		pending := f.probes()
		var last string
		for len(pending) > 0 && ctx.Err() == nil {
			p := pending[0]
			r, err := curlVia(ctx, p.proxy, p.url, "--max-time", "30")
			switch {
			case err != nil:
				last = err.Error()
			case r.status == p.want:
				pending = pending[1:]
				continue
			default:
				last = fmt.Sprintf("%s via %s: status %d", p.url, p.proxy, r.status)
			}
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
		cancel()
		if len(pending) == 0 {
			t.Logf("all destinations reachable %s after the check began (round %d)", time.Since(start).Round(time.Millisecond), round)
			return
		}
		if round == rounds {
			t.Fatalf("destinations still unreachable after %d rounds; last: %s", rounds, last)
		}
		t.Logf("round %d: %s; restarting ep-server so i2pd publishes its leasesets", round, last)
		if err := f.server.stop(); err != nil {
			t.Fatal(err)
		}
		if err := f.server.start(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.server.waitRunning(context.Background(), startWait, "site", "exit", "exit-squid", "exit-strict"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEepproxy runs the eepproxy through real i2pd routers: curl fetches
// the i2pd-hosted eepsite's 20 MiB file, a recording eepsite checks the
// headers that arrive, headless Chromium loads a page with an image, and
// the outproxy chain reaches a "clearnet" server directly, with CONNECT,
// and through squid, while an outproxy with the default guard refuses the
// test network.
func TestEepproxy(t *testing.T) {
	f := startEepproxyFixture(t)
	n := f.n

	t.Run("curl fetches the i2pd eepsite's 20 MiB byte-identical", func(t *testing.T) {
		curlUntil(t, fetchWait, http.StatusOK, proxyDirect, "http://"+n.EepsiteB32+"/")
		r := curlUntil(t, fetchWait, http.StatusOK, proxyDirect, "http://"+n.EepsiteB32+testnet.BigPath, "--max-time", "300")
		if !bytes.Equal(r.body, n.Big()) {
			t.Fatalf("download differs: %d bytes, sha256 %x; want %d bytes, sha256 %x",
				len(r.body), sha256.Sum256(r.body), testnet.BigSize, sha256.Sum256(n.Big()))
		}
		t.Logf("20 MiB through the eepproxy in %s: %.2f MiB/s", r.took.Round(time.Millisecond), r.speed/(1<<20))
	})

	t.Run("the eepsite sees no identifying header", func(t *testing.T) {
		leaks := map[string]string{
			"User-Agent":      "Mozilla/5.0 LEAKED-UA-interop",
			"Accept-Language": "xx-LEAKED-LANG",
			"X-Forwarded-For": "203.0.113.77",
			"Via":             "1.1 leaked-via-host",
			"From":            "leaked@example.org",
			"DNT":             "1-leaked",
			"Sec-CH-UA":       `"LeakedBrand";v="99"`,
			"Referer":         "http://elsewhere-leaked.i2p/page",
		}
		var args []string
		for k, v := range leaks {
			args = append(args, "-H", k+": "+v)
		}
		curlUntil(t, fetchWait, http.StatusOK, proxyDirect, "http://"+siteName+"/headers", args...)
		got := f.site.find("/headers")
		if len(got) == 0 {
			t.Fatal("the recording eepsite saw nothing")
		}
		w := wire(got[len(got)-1])
		for k, v := range leaks {
			if strings.Contains(w, v) {
				t.Errorf("the eepsite received %s's value:\n%s", k, w)
			}
		}
		if strings.Contains(w, siteName) {
			t.Errorf("the eepsite received the name from the user's address book:\n%s", w)
		}
		if ua := got[len(got)-1].Header.Get("User-Agent"); ua != "MYOB/6.66 (AN/ON)" {
			t.Errorf("User-Agent %q", ua)
		}
		if host := got[len(got)-1].Host; host != f.siteB32 {
			t.Errorf("Host %q, want the site's b32 %s", host, f.siteB32)
		}
		t.Logf("headers at the eepsite:\n%s", w)
	})

	t.Run("headless Chromium loads a page with an image", func(t *testing.T) {
		curlUntil(t, fetchWait, http.StatusOK, proxyDirect, "http://"+siteName+"/")
		profile := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var dom string
		for attempt := 1; ; attempt++ {
			cmd := suite.net.NS.Command("chromium", "--headless", "--no-sandbox", "--disable-gpu",
				"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
				"--disable-dev-shm-usage", "--user-data-dir="+profile, "--proxy-server=http://"+proxyDirect,
				"--virtual-time-budget=30000", "--dump-dom", "http://"+siteName+"/")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.Env = append(os.Environ(), "HOME="+profile)
			if err := suite.net.NS.Start(cmd); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("chromium did not finish; last DOM:\n%s\nstderr:\n%s", dom, stderr.String())
			}
			dom = stdout.String()
			if err == nil && strings.Contains(dom, "image loaded 40x30") {
				break
			}
			if attempt == 5 {
				t.Fatalf("chromium (%v) never showed the loaded image; DOM:\n%s\nstderr (tail):\n%s", err, dom, tailLines(stderr.String(), 20))
			}
			time.Sleep(2 * time.Second)
		}
		px := f.site.find("/pixel.png")
		if len(px) == 0 {
			t.Fatal("the eepsite never served the image")
		}
		last := px[len(px)-1]
		if ua := last.Header.Get("User-Agent"); ua != "MYOB/6.66 (AN/ON)" {
			t.Errorf("Chromium's image request reached the site with User-Agent %q", ua)
		}
		for k := range last.Header {
			if strings.HasPrefix(k, "Sec-Ch-") || k == "Accept-Language" {
				t.Errorf("Chromium's %s reached the site: %v", k, last.Header)
			}
		}
		t.Logf("Chromium's image request as the site saw it:\n%s", wire(last))
	})

	t.Run("outproxy: plain GET and CONNECT reach the clearnet server", func(t *testing.T) {
		r := curlUntil(t, fetchWait, http.StatusOK, proxyDirect, "http://"+clearnetHTTP+"/plain", "-H", "User-Agent: LEAKED-UA-clearnet")
		if string(r.body) != "clearnet /plain" {
			t.Errorf("body %q", r.body)
		}
		got := f.clear.find("/plain")
		if len(got) == 0 {
			t.Fatal("the clearnet server saw nothing")
		}
		w := wire(got[len(got)-1])
		if strings.Contains(w, "LEAKED") || got[len(got)-1].Header.Get("X-Forwarded-For") != "" {
			t.Errorf("the clearnet server saw:\n%s", w)
		}
		if ua := got[len(got)-1].Header.Get("User-Agent"); !strings.Contains(ua, "Firefox/") {
			t.Errorf("User-Agent at the clearnet server %q, want the outproxy browser string", ua)
		}
		r = curlUntil(t, fetchWait, http.StatusOK, proxyDirect, "https://"+clearnetTLS+"/tls", "-k")
		if string(r.body) != "clearnet /tls" {
			t.Errorf("CONNECT body %q", r.body)
		}
	})

	t.Run("outproxy through squid as upstream", func(t *testing.T) {
		r := curlUntil(t, fetchWait, http.StatusOK, proxySquid, "http://"+clearnetHTTP+"/via-squid")
		if string(r.body) != "clearnet /via-squid" {
			t.Errorf("body %q", r.body)
		}
		r = curlUntil(t, fetchWait, http.StatusOK, proxySquid, "https://"+clearnetTLS+"/tls-via-squid", "-k")
		if string(r.body) != "clearnet /tls-via-squid" {
			t.Errorf("CONNECT body %q", r.body)
		}
		// squid writes a CONNECT line only when the tunnel has closed, a
		// moment after curl is done: poll the log briefly.
		var log []byte
		for deadline := time.Now().Add(15 * time.Second); ; {
			var err error
			if log, err = os.ReadFile(f.squidLog); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(log), "CONNECT "+clearnetTLS) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, want := range []string{"http://" + clearnetHTTP + "/via-squid", "CONNECT " + clearnetTLS} {
			if !strings.Contains(string(log), want) {
				t.Errorf("squid's access log lacks %q:\n%s", want, log)
			}
		}
		if got := f.clear.find("/via-squid"); len(got) == 0 || got[0].Header.Get("X-Forwarded-For") != "" || got[0].Header.Get("Via") != "" {
			t.Errorf("via squid the clearnet server saw %v", got)
		}
	})

	t.Run("an outproxy with the default guard refuses the test network", func(t *testing.T) {
		before := len(f.clear.find("/strict"))
		r := curlUntil(t, fetchWait, http.StatusForbidden, proxyStrict, "http://"+clearnetHTTP+"/strict")
		if !strings.Contains(string(r.body), "private or special-purpose") {
			t.Errorf("refusal body %q", r.body)
		}
		if got := len(f.clear.find("/strict")); got != before {
			t.Errorf("the clearnet server was reached %d times", got-before)
		}
	})

	st, err := f.proxy.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := st["direct"]; d.BytesIn < testnet.BigSize {
		t.Errorf("status of the direct proxy counts %d bytes in, want at least %d", d.BytesIn, testnet.BigSize)
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
