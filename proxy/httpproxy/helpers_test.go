package httpproxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/proxy/internal/serve"
	"i2pbridge/router/data"
	"i2pbridge/router/naming"
)

// testLogger logs to the test at debug level when -v is given.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// recorded is one request as an eepsite received it.
type recorded struct {
	Req  *http.Request // headers as received (the body is not kept)
	From string        // the caller's address (its b32)
}

// wire is everything of the recorded request a site can see, as text:
// request line, Host and every header line.
func (r recorded) wire() string {
	var b strings.Builder
	b.WriteString(r.Req.Method + " " + r.Req.RequestURI + " " + r.Req.Proto + "\r\n")
	b.WriteString("Host: " + r.Req.Host + "\r\n")
	r.Req.Header.Write(&b)
	return b.String()
}

// eepsite is a fake I2P site: an HTTP server on a destination of the
// in-memory network that records every request it receives.
type eepsite struct {
	sess *i2pnettest.Session
	dest data.Destination

	mu   sync.Mutex
	reqs []recorded
}

// newEepsite starts an eepsite on n serving h (nil: answer "hello from
// <path>").
func newEepsite(t *testing.T, n *i2pnettest.Network, h http.Handler) *eepsite {
	t.Helper()
	s, err := n.Open(context.Background(), i2pnet.SessionConfig{Name: "eepsite"})
	if err != nil {
		t.Fatal(err)
	}
	sess := s.(*i2pnettest.Session)
	ln, err := sess.Listen()
	if err != nil {
		t.Fatal(err)
	}
	e := &eepsite{sess: sess, dest: sess.Addr().Dest}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello from "+r.URL.Path)
		})
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.mu.Lock()
			e.reqs = append(e.reqs, recorded{Req: r.Clone(context.Background()), From: r.RemoteAddr})
			e.mu.Unlock()
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(testLogger(t).Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		sess.Close()
		<-done
	})
	return e
}

func (e *eepsite) b32() string { return e.dest.B32() }

func (e *eepsite) requests() []recorded {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]recorded(nil), e.reqs...)
}

func (e *eepsite) last(t *testing.T) recorded {
	t.Helper()
	r := e.requests()
	if len(r) == 0 {
		t.Fatal("the eepsite received no request")
	}
	return r[len(r)-1]
}

// env is a proxy on an in-memory I2P, served on a loopback port.
type env struct {
	t     *testing.T
	net   *i2pnettest.Network
	proxy *Proxy
	addr  string // the proxy's listen address
	dir   string // datadir
	books *naming.Books
	cfg   Config
}

type envOpt func(*Config, *env)

// withBook writes a read-only hosts.txt with the given entries.
func withBook(entries map[string]data.Destination) envOpt {
	return func(c *Config, e *env) {
		var b strings.Builder
		for name, d := range entries {
			b.WriteString(name + "=" + d.Base64() + "\n")
		}
		path := filepath.Join(e.dir, "hosts.txt")
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			e.t.Fatal(err)
		}
		e.openBooks(path)
	}
}

func (e *env) openBooks(readOnly ...string) {
	bs, _, err := naming.OpenBooks(filepath.Join(e.dir, "local.hosts.txt"), readOnly)
	if err != nil {
		e.t.Fatal(err)
	}
	e.books = bs
}

// newEnv starts a proxy on n (a fresh network if nil).
func newEnv(t *testing.T, n *i2pnettest.Network, opts ...envOpt) *env {
	t.Helper()
	if n == nil {
		n = i2pnettest.New()
	}
	e := &env{t: t, net: n, dir: t.TempDir()}
	e.openBooks()
	sess, err := n.Open(context.Background(), i2pnet.SessionConfig{Name: "proxy"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Session: sess, Listen: ln.Addr().String(), Logger: testLogger(t), DialTimeout: 5 * time.Second, ResponseTimeout: 10 * time.Second, LocalBook: true}
	for _, o := range opts {
		o(&cfg, e)
	}
	cfg.Books = e.books
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.proxy, e.addr, e.cfg = p, ln.Addr().String(), cfg
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve.Run(ctx, ln, p, serve.Options{Logger: cfg.Logger}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		p.Close()
		sess.Close()
	})
	return e
}

// client is an HTTP client using the proxy that does not follow
// redirects (the tests look at them).
func (e *env) client() *http.Client {
	pu, _ := url.Parse("http://" + e.addr)
	tr := &http.Transport{Proxy: http.ProxyURL(pu), DisableCompression: true}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// get fetches u through the proxy and returns the response and its body.
func (e *env) get(u string, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("GET %s: body: %v", u, err)
	}
	return resp, string(b)
}

// formFields extracts the hidden fields of every helper form on a page,
// keyed by action.
func formFields(t *testing.T, page string) map[string]url.Values {
	t.Helper()
	forms := map[string]url.Values{}
	formRE := regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)
	inputRE := regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		if m[1] != "http://proxy.i2p/addresshelper" {
			t.Fatalf("form posts to %q", m[1])
		}
		v := url.Values{}
		for _, in := range inputRE.FindAllStringSubmatch(m[2], -1) {
			v.Set(in[1], htmlUnescape(in[2]))
		}
		forms[v.Get("action")] = v
	}
	return forms
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&#43;", "+")
	return r.Replace(s)
}

// newDest returns a fresh destination nobody runs.
func newDest(t *testing.T) data.Destination {
	t.Helper()
	k, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Destination()
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// conn is a raw client connection to the proxy.
type conn struct {
	c  net.Conn
	br *bufio.Reader
}

func rawConn(t *testing.T, addr string) conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return conn{c: c, br: bufio.NewReader(c)}
}
