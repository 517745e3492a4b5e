package httpproxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/router/data"
)

// TestProxyRoutesI2PHosts checks every way of naming a site: its b32, a
// name from a hosts.txt book, a name only the router knows, and Java's
// http://i2p/<base64>/ form. The site always sees its own b32 as Host,
// never the name the user typed.
func TestProxyRoutesI2PHosts(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	n.AddHost("routerknows.i2p", site.dest)
	e := newEnv(t, n, withBook(map[string]data.Destination{"bookname.i2p": site.dest}))

	tests := []struct {
		name, url, wantPath string
	}{
		{"b32", "http://" + site.b32() + "/a/b?c=d", "/a/b?c=d"},
		{"b32 upper case", "http://" + strings.ToUpper(site.b32()) + "/up", "/up"},
		{"hosts.txt name", "http://bookname.i2p/x", "/x"},
		{"router name", "http://routerknows.i2p/y", "/y"},
		{"base64 form", "http://i2p/" + site.dest.Base64() + "/z/w", "/z/w"},
		{"trailing dot", "http://bookname.i2p./dot", "/dot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.get(tt.url)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, body %q", resp.StatusCode, body)
			}
			got := site.last(t)
			if got.Req.RequestURI != tt.wantPath {
				t.Errorf("site got request-target %q, want %q", got.Req.RequestURI, tt.wantPath)
			}
			if got.Req.Host != site.b32() {
				t.Errorf("site got Host %q, want its b32 %q", got.Req.Host, site.b32())
			}
			if got.Req.Header.Get("User-Agent") != UserAgent {
				t.Errorf("User-Agent %q", got.Req.Header.Get("User-Agent"))
			}
		})
	}
}

// TestProxyKeepsNonDefaultPort: an explicit port survives in Host (the
// stream goes to that I2P port).
func TestProxyKeepsNonDefaultPort(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	e := newEnv(t, n)
	resp, body := e.get("http://" + site.b32() + ":8080/p")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if got := site.last(t).Req.Host; got != site.b32()+":8080" {
		t.Errorf("Host %q, want %s:8080", got, site.b32())
	}
}

// TestProxyErrorPages requests each failure and checks status and page.
func TestProxyErrorPages(t *testing.T) {
	n := i2pnettest.New()
	slow := newEepsite(t, n, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	offline := newDest(t)
	e := newEnv(t, n, func(c *Config, e *env) {
		c.Jump = []string{"http://jump.example.i2p/jump?a=", "http://stats.example.i2p/cgi-bin/jump.cgi?q="}
		c.ResponseTimeout = 300 * time.Millisecond
	})
	_, port, _ := net.SplitHostPort(e.addr)

	tests := []struct {
		name   string
		url    string
		status int
		want   []string // substrings of the page
	}{
		{"unknown host with jump links", "http://nobody.i2p/page", http.StatusNotFound,
			[]string{"Unknown host", "nobody.i2p", `href="http://jump.example.i2p/jump?a=nobody.i2p"`, `href="http://stats.example.i2p/cgi-bin/jump.cgi?q=nobody.i2p"`}},
		{"reserved name", "http://console.i2p/", http.StatusNotFound, []string{"Reserved name"}},
		{"destination unreachable", "http://" + offline.B32() + "/", http.StatusBadGateway, []string{"Site unreachable"}},
		{"timeout", "http://" + slow.b32() + "/", http.StatusGatewayTimeout, []string{"Timed out"}},
		{"no outproxy", "http://www.example.com/", http.StatusServiceUnavailable, []string{"No outproxy", "never connects to the clearnet directly"}},
		{"invalid name", "http://-bad-.i2p/", http.StatusBadRequest, []string{"Bad request", "not a valid I2P host name"}},
		{"bad base64 form", "http://i2p/notbase64/", http.StatusBadRequest, []string{"Bad request"}},
		{"loop to the proxy", "http://127.0.0.1:" + port + "/", http.StatusLoopDetected, []string{"Request loop"}},
		{"loop via localhost", "http://localhost:" + port + "/x", http.StatusLoopDetected, []string{"Request loop"}},
		{"local address", "http://192.168.1.1/", http.StatusForbidden, []string{"Local address refused"}},
		{"loopback other port", "http://127.0.0.1:1/", http.StatusForbidden, []string{"Local address refused"}},
		{"single-label name", "http://intranet/", http.StatusForbidden, []string{"Host name refused"}},
		{"proxy home page", "http://proxy.i2p/", http.StatusOK, []string{"The proxy is working"}},
		{"proxy unknown page", "http://proxy.i2p/nothing", http.StatusNotFound, []string{"Not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.get(tt.url)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; page:\n%s", resp.StatusCode, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q", ct)
			}
			if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("page headers missing: %v", resp.Header)
			}
		})
	}
}

// TestProxyBadRequests covers requests that are not proxy requests at
// all.
func TestProxyBadRequests(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, raw string
		status    int
	}{
		{"origin-form request to the proxy", "GET / HTTP/1.1\r\nHost: " + e.addr + "\r\n\r\n", http.StatusBadRequest},
		{"ftp URL", "GET ftp://files.i2p/x HTTP/1.1\r\nHost: files.i2p\r\n\r\n", http.StatusBadRequest},
		{"CONNECT without port", "CONNECT site.i2p HTTP/1.1\r\nHost: site.i2p\r\n\r\n", http.StatusBadRequest},
		{"CONNECT to proxy.i2p", "CONNECT proxy.i2p:443 HTTP/1.1\r\nHost: proxy.i2p:443\r\n\r\n", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRequest(t, e.addr, tt.raw)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// rawRequest sends raw on a new connection to addr and reads one response.
func rawRequest(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufioReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
