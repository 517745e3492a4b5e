package httpproxy

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/config"
	"i2pbridge/proxy/internal/proxytest"
	"i2pbridge/proxy/outproxy"
)

// fakeOutproxy is an I2P destination speaking HTTP proxy: it answers
// every absolute-form request itself with its name, the request target
// and the body, and records the headers.
type fakeOutproxy struct {
	name string
	sess i2pnet.Session

	mu   sync.Mutex
	reqs []*http.Request
}

func newFakeOutproxy(t *testing.T, n *i2pnettest.Network, name string) *fakeOutproxy {
	t.Helper()
	s, err := n.Open(context.Background(), i2pnet.SessionConfig{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	op := &fakeOutproxy{name: name, sess: s}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		op.reqs = append(op.reqs, r.Clone(context.Background()))
		op.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, op.name+" "+r.RequestURI+" body="+string(body))
	})}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() { srv.Close(); s.Close(); <-done })
	return op
}

func (op *fakeOutproxy) b32() string { return op.sess.Addr().Dest.B32() }

func (op *fakeOutproxy) last(t *testing.T) *http.Request {
	t.Helper()
	op.mu.Lock()
	defer op.mu.Unlock()
	if len(op.reqs) == 0 {
		t.Fatalf("%s received nothing", op.name)
	}
	return op.reqs[len(op.reqs)-1]
}

// TestOutproxyStickyAndFailover: a host keeps its outproxy; when that one
// goes away the request (a POST with a body, even) fails over to the
// other one without the browser noticing.
func TestOutproxyStickyAndFailover(t *testing.T) {
	n := i2pnettest.New()
	ops := map[string]*fakeOutproxy{}
	var names []string
	for _, name := range []string{"op0", "op1"} {
		op := newFakeOutproxy(t, n, name)
		ops[op.b32()] = op
		names = append(names, op.b32())
	}
	e := newEnv(t, n, func(c *Config, _ *env) { c.Outproxies = names })

	var first string
	for i := range 5 {
		resp, body := e.get("http://site-a.example/p"+strconv.Itoa(i), "User-Agent", "LEAKED-UA", "Accept-Language", "xx-LEAKED")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		op, _, _ := strings.Cut(body, " ")
		if first == "" {
			first = op
		} else if op != first {
			t.Fatalf("request %d went to %s, earlier ones to %s", i, op, first)
		}
		if want := first + " http://site-a.example/p" + strconv.Itoa(i) + " body="; body != want {
			t.Errorf("outproxy answered %q, want %q", body, want)
		}
	}
	var firstOp, otherOp *fakeOutproxy
	for _, op := range ops {
		if op.name == first {
			firstOp = op
		} else {
			otherOp = op
		}
	}
	got := firstOp.last(t)
	if got.Header.Get("User-Agent") != OutproxyUserAgent || got.Header.Get("Accept-Language") != "" {
		t.Errorf("headers at the outproxy: %v", got.Header)
	}

	// Take the host's outproxy away; a POST to it must arrive intact at
	// the other one.
	firstOp.sess.Close()
	resp, err := e.client().Post("http://site-a.example/form", "text/plain", strings.NewReader("payload-123"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := otherOp.name + " http://site-a.example/form body=payload-123"; resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("after failover: %d %q, want %q", resp.StatusCode, body, want)
	}
	// And it sticks there.
	if _, body := e.get("http://site-a.example/again"); !strings.HasPrefix(body, otherOp.name+" ") {
		t.Errorf("after failover the host went to %q", body)
	}

	// With both gone: an error page, never a direct connection.
	otherOp.sess.Close()
	resp2, page := e.get("http://site-a.example/last")
	if resp2.StatusCode != http.StatusBadGateway || !strings.Contains(page, "Outproxy unreachable") {
		t.Errorf("all outproxies down: %d\n%s", resp2.StatusCode, page)
	}
}

// TestOutproxyChain runs the whole chain: eepproxy → outproxy tunnel on
// I2P → a "clearnet" web server (on loopback, named clearnet.example by
// a test DNS server and allowed in the outproxy's configuration), with a
// plain GET, HTTPS through CONNECT, and plain HTTP through CONNECT (which
// the eepproxy filters).
func TestOutproxyChain(t *testing.T) {
	n := i2pnettest.New()
	var mu sync.Mutex
	var seenUA []string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seenUA = append(seenUA, r.Header.Get("User-Agent"))
		mu.Unlock()
		io.WriteString(w, "clearnet says "+r.URL.Path)
	})
	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(handler)
	t.Cleanup(secure.Close)
	_, plainPort, _ := net.SplitHostPort(plain.Listener.Addr().String())
	_, securePort, _ := net.SplitHostPort(secure.Listener.Addr().String())
	dns := proxytest.NewDNS(t, map[string][]netip.Addr{"clearnet.example": {netip.MustParseAddr("127.0.0.1")}})

	exit, err := outproxy.NewServer(outproxy.Config{
		Tunnel:   config.Tunnel{Name: "exit", Type: outproxy.Type, Outproxy: config.Outproxy{AllowCIDRs: []string{"127.0.0.0/8"}}},
		Network:  n.NewPeer(),
		Resolver: dns.Resolver(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := exit.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- exit.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done; exit.Close() })

	e := newEnv(t, n, func(c *Config, _ *env) { c.Outproxies = []string{exit.Address()} })

	resp, body := e.get("http://clearnet.example:"+plainPort+"/plain", "User-Agent", "LEAKED-UA")
	if resp.StatusCode != http.StatusOK || body != "clearnet says /plain" {
		t.Fatalf("plain GET: %d %q", resp.StatusCode, body)
	}

	pu, _ := url.Parse("http://" + e.addr)
	tr := &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err = hc.Get("https://clearnet.example:" + securePort + "/tls")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "clearnet says /tls" {
		t.Fatalf("HTTPS through CONNECT: %q", b)
	}

	c := rawConn(t, e.addr)
	authority := "clearnet.example:" + plainPort
	io.WriteString(c.c, "CONNECT "+authority+" HTTP/1.1\r\nHost: "+authority+"\r\n\r\n")
	r, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodConnect})
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT: %v %v", r, err)
	}
	io.WriteString(c.c, "GET /inside HTTP/1.1\r\nHost: "+authority+"\r\nUser-Agent: LEAKED-UA\r\n\r\n")
	r, err = http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(r.Body)
	if string(b) != "clearnet says /inside" {
		t.Errorf("HTTP inside CONNECT: %q", b)
	}

	mu.Lock()
	defer mu.Unlock()
	for i, ua := range seenUA {
		if i == 1 {
			continue // the HTTPS request: encrypted end to end, the client's own UA
		}
		if ua != OutproxyUserAgent {
			t.Errorf("request %d reached the clearnet with User-Agent %q", i, ua)
		}
	}
}
