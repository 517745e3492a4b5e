package httpserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"i2pbridge/bridge/leaktest"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/bridge/protect"
	"i2pbridge/bridge/relay"
	"i2pbridge/config"
)

// clock is a settable time source for the rate limits.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// site is an http-server tunnel in front of a test web server, and a
// client destination on another router of the same fake I2P.
type site struct {
	srv      *Server
	counters *relay.Counters
	client   i2pnet.Session
	b32      string
	backend  *httptest.Server
	cancel   context.CancelFunc
	done     chan error
}

// newSite starts backend ← http-server ← i2pnettest ← client session. tweak
// may change the config before New.
func newSite(t *testing.T, backend http.Handler, tweak func(*Config)) *site {
	t.Helper()
	n := i2pnettest.New()
	t.Cleanup(func() { n.Close() })
	st := &site{counters: new(relay.Counters), done: make(chan error, 1)}
	st.backend = httptest.NewServer(backend)
	t.Cleanup(st.backend.Close)
	dir := t.TempDir()
	cfg := Config{
		Tunnel: config.Tunnel{Name: "site", Type: Type, Target: st.backend.Listener.Addr().String(),
			Keys: filepath.Join(dir, "site.dat")},
		Network: n, Datadir: dir, Counters: st.counters,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	var err error
	st.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.srv.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.b32 = st.srv.Address()
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	go func() { st.done <- st.srv.Serve(ctx) }()
	t.Cleanup(func() {
		st.stop(t)
		st.srv.Close()
	})
	st.client, err = n.NewPeer().Open(context.Background(), i2pnet.SessionConfig{Name: "browser"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.client.Close() })
	return st
}

// stop cancels Serve and checks it returns nil promptly (idempotent).
func (st *site) stop(t *testing.T) {
	t.Helper()
	if st.cancel == nil {
		return
	}
	st.cancel()
	st.cancel = nil
	select {
	case err := <-st.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// dial opens a raw stream to the site.
func (st *site) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := st.client.Dial(context.Background(), st.b32)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// httpClient is a client whose connections are I2P streams to the site.
func (st *site) httpClient(t *testing.T, keepAlive bool) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return st.client.Dial(ctx, st.b32)
		},
		DisableKeepAlives:  !keepAlive,
		DisableCompression: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func get(t *testing.T, c *http.Client, url string, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// seen records the requests the backend got.
type seen struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *seen) handler(reply func(w http.ResponseWriter, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.mu.Unlock()
		if reply != nil {
			reply(w, r)
			return
		}
		io.WriteString(w, "ok")
	})
}

func (s *seen) last(t *testing.T) *http.Request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("backend got no request")
	}
	return s.reqs[len(s.reqs)-1]
}

func TestIdentityHeadersAreInjectedAndSpoofsReplaced(t *testing.T) {
	leaktest.Check(t)
	tests := []struct {
		name     string
		host     string // host: override
		wantHost string
	}{
		{"client's Host kept", "", "site.i2p"},
		{"Host overridden", "internal.example:8080", "internal.example:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got seen
			st := newSite(t, got.handler(nil), func(c *Config) { c.Tunnel.Host = tt.host })
			hc := st.httpClient(t, true)
			spoof := http.Header{
				"X-I2P-DestB32":   {"attacker.b32.i2p"},
				"x-i2p-desthash":  {"AAAA"},
				"X-I2p-Destb64":   {"BBBB"},
				"X-I2P-Other":     {"x"},
				"X-I2PFoo":        {"y"},
				"Forwarded":       {"for=1.2.3.4"},
				"X-Real-Ip":       {"1.2.3.4"},
				"X-Forwarded-For": {"1.2.3.4"},
				"X-Keep":          {"kept"},
			}
			resp, body := get(t, hc, "http://site.i2p/path?q=1", spoof)
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			r := got.last(t)
			me := st.client.Addr().Dest
			want := map[string]string{
				HeaderDestB32:  me.B32(),
				HeaderDestB64:  me.Base64(),
				HeaderDestHash: me.Hash().Base64(),
				"X-Keep":       "kept",
			}
			for k, v := range want {
				if vs := r.Header.Values(k); len(vs) != 1 || vs[0] != v {
					t.Errorf("%s = %q, want exactly [%q]", k, vs, v)
				}
			}
			if len(me.Hash().Base64()) != 44 {
				t.Errorf("DestHash %q is not 44 base64 characters", me.Hash().Base64())
			}
			for _, k := range []string{"X-I2p-Other", "X-I2pfoo", "Forwarded", "X-Real-Ip", "X-Forwarded-For"} {
				if v, ok := r.Header[k]; ok {
					t.Errorf("spoofable header %s reached the target: %q", k, v)
				}
			}
			if r.Host != tt.wantHost {
				t.Errorf("Host = %q, want %q", r.Host, tt.wantHost)
			}
			if r.URL.RequestURI() != "/path?q=1" {
				t.Errorf("target got %q", r.URL.RequestURI())
			}
			if ua := r.Header.Get("User-Agent"); strings.Contains(ua, "Go-http-client") && ua != "Go-http-client/1.1" {
				t.Errorf("proxy added its own User-Agent %q", ua)
			}
			if enc := r.Header.Get("Accept-Encoding"); enc != "" {
				t.Errorf("proxy added Accept-Encoding %q", enc)
			}
		})
	}
}

func TestResponseHeadersAreStripped(t *testing.T) {
	leaktest.Check(t)
	reply := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Server", "Apache/2.4.1 (Debian)")
		h.Set("X-Powered-By", "PHP/8.1")
		h.Set("X-Runtime", "0.01")
		h.Set("X-Other", "fine")
		h.Set("Date", "Mon, 01 Jan 2024 00:00:00 GMT")
		io.WriteString(w, "hello")
	}
	tests := []struct {
		name  string
		strip []string
		gone  []string
		kept  []string
	}{
		{"defaults", nil, []string{"Server", "X-Powered-By", "X-Runtime"}, []string{"X-Other", "Date"}},
		{"nothing", []string{}, nil, []string{"Server", "X-Powered-By", "X-Runtime", "X-Other", "Date"}},
		{"custom, Date included, any case", []string{"x-other", "DATE"}, []string{"X-Other", "Date"}, []string{"Server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newSite(t, http.HandlerFunc(reply), func(c *Config) { c.Tunnel.StripResponseHeaders = tt.strip })
			resp, body := get(t, st.httpClient(t, false), "http://site.i2p/", nil)
			if body != "hello" {
				t.Fatalf("body %q", body)
			}
			for _, h := range tt.gone {
				if v, ok := resp.Header[h]; ok {
					t.Errorf("%s not stripped: %q", h, v)
				}
			}
			for _, h := range tt.kept {
				if resp.Header.Get(h) == "" {
					t.Errorf("%s stripped", h)
				}
			}
			if ct := resp.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q, want the backend's one only", ct)
			}
		})
	}
}

// TestNoContentTypeIsInvented: a response without Content-Type stays
// without one (net/http would sniff one otherwise).
func TestNoContentTypeIsInvented(t *testing.T) {
	reply := func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		io.WriteString(w, "<html>x</html>")
	}
	st := newSite(t, http.HandlerFunc(reply), nil)
	resp, _ := get(t, st.httpClient(t, false), "http://site.i2p/", nil)
	if ct, ok := resp.Header["Content-Type"]; ok {
		t.Errorf("Content-Type %q appeared", ct)
	}
}

func TestKeepAliveOnTheI2PSide(t *testing.T) {
	leaktest.Check(t)
	var got seen
	st := newSite(t, got.handler(nil), nil)
	hc := st.httpClient(t, true)
	for range 3 {
		if resp, body := get(t, hc, "http://site.i2p/", nil); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	}
	if n := st.counters.TotalConns.Load(); n != 1 {
		t.Errorf("3 requests took %d streams, want 1", n)
	}
	// Bytes are counted when a Write returns, possibly after the peer read them.
	waitFor(t, func() bool { return st.counters.AToB.Load() != 0 && st.counters.BToA.Load() != 0 })
}

// TestSlowlorisIsCut: a stream that sends no request line, and one that
// trickles its header, are closed at the timeouts and counted.
func TestSlowlorisIsCut(t *testing.T) {
	leaktest.Check(t)
	const firstLine, header = 300 * time.Millisecond, 800 * time.Millisecond
	st := newSite(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), func(c *Config) {
		c.FirstLineTimeout, c.HeaderTimeout = firstLine, header
	})

	// Silent stream: closed after the first-line timeout.
	c := st.dial(t)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("silent stream: read %d, %v", n, err)
	}
	if el := time.Since(start); el < firstLine-50*time.Millisecond || el > 3*time.Second {
		t.Errorf("silent stream closed after %v, want about %v", el, firstLine)
	}

	// Request line in time, header trickling: closed at the header timeout.
	c = st.dial(t)
	start = time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\n")
	closed := make(chan time.Duration, 1)
	go func() {
		c.Read(make([]byte, 1))
		closed <- time.Since(start)
	}()
	var el time.Duration
trickle:
	for i := 0; ; i++ {
		select {
		case el = <-closed:
			break trickle
		case <-time.After(100 * time.Millisecond):
			if _, err := fmt.Fprintf(c, "X-%d: y\r\n", i); err != nil {
				el = <-closed
				break trickle
			}
		}
	}
	if el < header-50*time.Millisecond || el > 3*time.Second {
		t.Errorf("trickling stream closed after %v, want about %v", el, header)
	}
	waitFor(t, func() bool { return st.srv.Rejected()[string(SlowRequest)] == 2 })

	// A prompt request on a fresh stream still works.
	if resp, _ := get(t, st.httpClient(t, false), "http://site.i2p/", nil); resp.StatusCode != 200 {
		t.Errorf("normal request after slow ones: %d", resp.StatusCode)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawRequest sends a request on a fresh stream and reads the response.
func rawRequest(t *testing.T, st *site, req string) *http.Response {
	t.Helper()
	c := st.dial(t)
	go io.WriteString(c, req)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestHeaderLimits(t *testing.T) {
	leaktest.Check(t)
	var got seen
	st := newSite(t, got.handler(nil), nil)
	fields := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "X-F%d: v\r\n", i)
		}
		return b.String()
	}
	tests := []struct {
		name string
		hdr  string
		want int
	}{
		{"60 fields pass", fields(59), 200}, // + Host
		{"61 fields refused", fields(60), 431},
		{"8 KiB field refused", "X-Big: " + strings.Repeat("a", 8<<10) + "\r\n", 431},
		{"33 KiB header refused by the handler", strings.Repeat("X-M: "+strings.Repeat("b", 4000)+"\r\n", 9), 431},
		{"100 KiB header refused by net/http", strings.Repeat("X-M: "+strings.Repeat("c", 4000)+"\r\n", 25), 431},
	}
	refused := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRequest(t, st, "GET / HTTP/1.1\r\nHost: site.i2p\r\n"+tt.hdr+"\r\n")
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
		if tt.want == 431 {
			refused++
		}
	}
	waitFor(t, func() bool { return st.srv.Rejected()[string(HeaderLimit)] == uint64(refused) })
}

func TestPostLimitAnswers429WithRetryAfter(t *testing.T) {
	leaktest.Check(t)
	clk := &clock{t: time.Unix(1700000000, 0)}
	var got seen
	st := newSite(t, got.handler(nil), func(c *Config) {
		c.Tunnel.MaxPostsPerMinute = 2
		c.Now = clk.Now
	})
	hc := st.httpClient(t, true)
	post := func() *http.Response {
		resp, err := hc.Post("http://site.i2p/form", "text/plain", strings.NewReader("a=b"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := range 2 {
		if resp := post(); resp.StatusCode != 200 {
			t.Fatalf("POST %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := post()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "30" {
		t.Fatalf("3rd POST: %d Retry-After %q, want 429 and 30", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if r, _ := get(t, hc, "http://site.i2p/", nil); r.StatusCode != 200 {
		t.Errorf("GET limited by the POST limit: %d", r.StatusCode)
	}
	clk.Advance(30 * time.Second)
	if resp := post(); resp.StatusCode != 200 {
		t.Errorf("POST after Retry-After: %d", resp.StatusCode)
	}
	if n := st.srv.Rejected()[string(PostLimit)]; n != 1 {
		t.Errorf("Rejected[posts] = %d, want 1", n)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	if len(got.reqs) != 4 { // 3 accepted POSTs + the GET
		t.Errorf("backend saw %d requests, want 4", len(got.reqs))
	}
}

func TestWebSocketUpgradePassesThrough(t *testing.T) {
	leaktest.Check(t)
	var hdr http.Header
	var hdrMu sync.Mutex
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdrMu.Lock()
		hdr = r.Header.Clone()
		hdrMu.Unlock()
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want upgrade", 400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nServer: leaky/1.0\r\n\r\n")
		brw.Flush()
		io.Copy(c, brw) // echo until the client half-closes
		c.(*net.TCPConn).CloseWrite()
	})
	st := newSite(t, backend, nil)
	c := st.dial(t)
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: site.i2p\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-I2P-DestB32: spoof\r\n\r\n")
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	if resp.Header.Get("Server") != "" {
		t.Errorf("Server header leaked on the 101: %q", resp.Header.Get("Server"))
	}
	hdrMu.Lock()
	if hdr.Get(HeaderDestB32) != st.client.Addr().Dest.B32() {
		t.Errorf("upgrade request carried %s = %q", HeaderDestB32, hdr.Get(HeaderDestB32))
	}
	hdrMu.Unlock()

	// Raw bytes both ways after the 101, then a half-close ends it.
	msg := make([]byte, 256<<10)
	rand.Read(msg)
	go func() {
		c.Write(msg)
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	echo, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(echo, msg) {
		t.Errorf("echo of %d bytes came back as %d different bytes", len(msg), len(echo))
	}
}

// pattern is a deterministic 20 MiB body source.
const bigSize = 20 << 20

func bigBody() []byte {
	b := make([]byte, bigSize)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b
}

// TestBodiesStream20MiB moves 20 MiB each way. The backend stops after
// the first MiB of its response until the client has that MiB, and the
// client produces the second MiB of its upload only after the backend has
// read the first: a tunnel that buffered whole bodies would deadlock.
func TestBodiesStream20MiB(t *testing.T) {
	leaktest.Check(t)
	big := bigBody()
	const first = 1 << 20
	clientHasFirst := make(chan struct{})
	backendHasFirst := make(chan struct{})
	uploadSum := make(chan [32]byte, 1)
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			if r.URL.Query().Get("len") == "1" {
				w.Header().Set("Content-Length", fmt.Sprint(bigSize))
			}
			w.Write(big[:first])
			http.NewResponseController(w).Flush()
			select {
			case <-clientHasFirst:
			case <-time.After(20 * time.Second):
				return // the first MiB never arrived: the test fails
			}
			w.Write(big[first:])
		case "/upload":
			h := sha256.New()
			if _, err := io.CopyN(h, r.Body, first); err != nil {
				return
			}
			close(backendHasFirst)
			io.Copy(h, r.Body)
			var sum [32]byte
			copy(sum[:], h.Sum(nil))
			uploadSum <- sum
			io.WriteString(w, "stored")
		}
	})
	st := newSite(t, backend, nil)
	hc := st.httpClient(t, true)

	for _, q := range []string{"", "?len=1"} { // chunked, then with Content-Length
		resp, err := hc.Get("http://site.i2p/big" + q)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, first)
		if _, err := io.ReadFull(resp.Body, head); err != nil {
			t.Fatalf("%s: first MiB: %v", q, err)
		}
		if q == "" {
			close(clientHasFirst)
		}
		rest, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := append(head, rest...); !bytes.Equal(got, big) {
			t.Errorf("%s: %d bytes differ from the %d sent", q, len(got), len(big))
		}
	}

	pr, pw := io.Pipe()
	go func() {
		pw.Write(big[:first])
		select {
		case <-backendHasFirst:
		case <-time.After(20 * time.Second):
			pw.CloseWithError(errors.New("backend never got the first MiB"))
			return
		}
		pw.Write(big[first:])
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, "http://site.i2p/upload", pr)
	req.ContentLength = -1 // chunked upload
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "stored" {
		t.Fatalf("upload: %d %q", resp.StatusCode, body)
	}
	if <-uploadSum != sha256.Sum256(big) {
		t.Error("uploaded body differs")
	}
}

func TestGuardRefusalsGetAnAnswer(t *testing.T) {
	leaktest.Check(t)
	clk := &clock{t: time.Unix(1700000000, 0)}
	var got seen
	st := newSite(t, got.handler(nil), func(c *Config) {
		c.Tunnel.MaxConnsPerMinute = 5
		c.Now = clk.Now
	})
	hc := st.httpClient(t, false) // one stream per request
	for i := range 5 {
		if resp, _ := get(t, hc, "http://site.i2p/", nil); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := get(t, hc, "http://site.i2p/", nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "12" {
		t.Errorf("6th stream: %d Retry-After %q body %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	clk.Advance(12 * time.Second)
	if resp, _ := get(t, hc, "http://site.i2p/", nil); resp.StatusCode != 200 {
		t.Errorf("after Retry-After: %d", resp.StatusCode)
	}
	if n := st.srv.Rejected()[string(protect.RateMinute)]; n != 1 {
		t.Errorf("Rejected[rate_minute] = %d", n)
	}
	if n := st.counters.TotalConns.Load(); n != 6 {
		t.Errorf("TotalConns = %d: refused streams must not count as served", n)
	}
}

func TestDenyListAnswers403(t *testing.T) {
	leaktest.Check(t)
	var got seen
	var st *site
	// The client's destination is only known after newSite; deny it by
	// rebuilding the tunnel config from a second site on the same keys.
	st = newSite(t, got.handler(nil), nil)
	me := st.client.Addr().Dest
	st.stop(t)
	st.srv.Close()
	cfg := st.srv.cfg
	cfg.Tunnel.Deny = []string{me.Base64()}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	resp, body := get(t, st.httpClient(t, false), "http://site.i2p/", nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "does not accept your destination") {
		t.Errorf("denied caller got %d %q", resp.StatusCode, body)
	}
	got.mu.Lock()
	n := len(got.reqs)
	got.mu.Unlock()
	if n != 0 {
		t.Errorf("a denied request reached the target")
	}
	if srv.Rejected()[string(protect.Denied)] != 1 {
		t.Errorf("Rejected = %v", srv.Rejected())
	}
}

func TestUniqueLocalSourceAddress(t *testing.T) {
	leaktest.Check(t)
	var got seen
	st := newSite(t, got.handler(nil), func(c *Config) { c.Tunnel.UniqueLocal = true })
	get(t, st.httpClient(t, false), "http://site.i2p/", nil)
	host, _, _ := net.SplitHostPort(got.last(t).RemoteAddr)
	if want := protect.LoopbackFor(st.client.Addr().Dest.Hash()).String(); host != want {
		t.Errorf("target saw %s, want %s", host, want)
	}
}

func TestTargetDownIs502(t *testing.T) {
	leaktest.Check(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	st := newSite(t, http.NotFoundHandler(), func(c *Config) { c.Tunnel.Target = dead })
	resp, body := get(t, st.httpClient(t, false), "http://site.i2p/", nil)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "did not answer") {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if st.counters.FailedConns.Load() != 1 {
		t.Errorf("FailedConns = %d", st.counters.FailedConns.Load())
	}
}

// TestServeReturnsWithOpenStreams: cancelling Serve closes idle
// keep-alive streams and upgraded ones, and leaves no goroutine behind.
func TestServeReturnsWithOpenStreams(t *testing.T) {
	leaktest.Check(t)
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			io.WriteString(w, "ok")
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(io.Discard, brw)
	})
	st := newSite(t, backend, nil)
	hc := st.httpClient(t, true)
	get(t, hc, "http://site.i2p/", nil) // leaves an idle keep-alive stream

	ws := st.dial(t)
	io.WriteString(ws, "GET / HTTP/1.1\r\nHost: site.i2p\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(ws)
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	st.stop(t)
	if _, err := br.ReadByte(); err == nil {
		t.Error("upgraded stream still open after Serve returned")
	}
	if n := st.counters.Conns.Load(); n != 0 {
		t.Errorf("Conns = %d after Serve returned", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	n := i2pnettest.New()
	defer n.Close()
	base := config.Tunnel{Name: "s", Type: Type, Target: "127.0.0.1:80"}
	tests := []struct {
		name string
		mut  func(*config.Tunnel)
	}{
		{"wrong type", func(t *config.Tunnel) { t.Type = "tcp-server" }},
		{"no target port", func(t *config.Tunnel) { t.Target = "localhost" }},
		{"bad deny", func(t *config.Tunnel) { t.Deny = []string{"x.i2p"} }},
		{"bad name", func(t *config.Tunnel) { t.Name = "a/b" }},
	}
	for _, tt := range tests {
		tun := base
		tt.mut(&tun)
		if _, err := New(Config{Tunnel: tun, Network: n}); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", tt.name, err)
		}
	}
}
