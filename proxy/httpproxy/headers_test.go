package httpproxy

import (
	"bufio"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// readRequest parses a request as the browser sent it to the proxy.
func readRequest(t *testing.T, raw string) *http.Request {
	t.Helper()
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("ReadRequest: %v\n%s", err, raw)
	}
	return r
}

// TestScrubRequestHeaders has one row per header rule of the package
// documentation. Each row sends its header lines in a GET for
// http://site.i2p/page?x=1 and lists every header expected afterwards
// (User-Agent is added to want unless the row sets it).
func TestScrubRequestHeaders(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		opts RequestOptions
		want http.Header
	}{
		{"user agent replaced", []string{"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}, RequestOptions{}, http.Header{}},
		{"user agent added when missing", nil, RequestOptions{}, http.Header{}},
		{"user agent option", []string{"User-Agent: curl/8.0"}, RequestOptions{UserAgent: "Mozilla/5.0 (outproxy)"}, http.Header{"User-Agent": {"Mozilla/5.0 (outproxy)"}}},
		{"duplicate user agents collapse", []string{"User-Agent: a", "User-Agent: b"}, RequestOptions{}, http.Header{}},

		{"via dropped", []string{"Via: 1.1 squid"}, RequestOptions{}, http.Header{}},
		{"from dropped", []string{"From: user@example.com"}, RequestOptions{}, http.Header{}},
		{"forwarded dropped", []string{"Forwarded: for=192.0.2.1;proto=http"}, RequestOptions{}, http.Header{}},
		{"x-forwarded-* dropped", []string{"X-Forwarded-For: 192.0.2.1", "X-Forwarded-Host: site.i2p", "X-Forwarded-Proto: http", "X-Forwarded-Port: 80"}, RequestOptions{}, http.Header{}},
		{"x-real-ip dropped", []string{"X-Real-IP: 192.0.2.1"}, RequestOptions{}, http.Header{}},
		{"client-ip dropped", []string{"Client-IP: 192.0.2.1"}, RequestOptions{}, http.Header{}},
		{"true-client-ip dropped", []string{"True-Client-IP: 192.0.2.1"}, RequestOptions{}, http.Header{}},
		{"other client address headers dropped", []string{"X-Client-IP: 192.0.2.1", "X-ProxyUser-Ip: 192.0.2.1", "X-Originating-IP: 192.0.2.1", "CF-Connecting-IP: 192.0.2.1"}, RequestOptions{}, http.Header{}},
		{"dnt dropped", []string{"DNT: 1"}, RequestOptions{}, http.Header{}},
		{"sec-gpc dropped", []string{"Sec-GPC: 1"}, RequestOptions{}, http.Header{}},
		{"proxy-* dropped", []string{"Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Connection: keep-alive", "Proxy-Anything: x"}, RequestOptions{}, http.Header{}},

		{"accept-language dropped", []string{"Accept-Language: de-DE,de;q=0.9,en;q=0.5"}, RequestOptions{}, http.Header{}},
		{"other accept-* dropped", []string{"Accept-Charset: utf-8", "Accept-Datetime: Thu, 31 May 2007 20:35:00 GMT"}, RequestOptions{}, http.Header{}},
		{"accept-encoding kept", []string{"Accept-Encoding: gzip, deflate, br, zstd"}, RequestOptions{}, http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}}},
		{"accept firefox page", []string{"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, RequestOptions{}, http.Header{"Accept": {AcceptHTML}}},
		{"accept chromium page", []string{"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"}, RequestOptions{}, http.Header{"Accept": {AcceptHTML}}},
		{"accept image", []string{"Accept: image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"}, RequestOptions{}, http.Header{"Accept": {AcceptImage}}},
		{"accept stylesheet", []string{"Accept: text/css,*/*;q=0.1"}, RequestOptions{}, http.Header{"Accept": {AcceptCSS}}},
		{"accept other list", []string{"Accept: video/webm,video/ogg,video/*;q=0.9,*/*;q=0.5"}, RequestOptions{}, http.Header{"Accept": {AcceptAny}}},
		{"accept single type kept", []string{"Accept: application/json"}, RequestOptions{}, http.Header{"Accept": {"application/json"}}},
		{"accept single type with parameters", []string{"Accept: application/json;q=0.9"}, RequestOptions{}, http.Header{"Accept": {AcceptAny}}},
		{"accept empty dropped", []string{"Accept:"}, RequestOptions{}, http.Header{}},

		{"referer same origin cut to path and query", []string{"Referer: http://site.i2p/list?page=2#top"}, RequestOptions{}, http.Header{"Referer": {"/list?page=2"}}},
		{"referer same origin, explicit port and case", []string{"Referer: HTTP://Site.I2P:80/a%20b"}, RequestOptions{}, http.Header{"Referer": {"/a%20b"}}},
		{"referer same origin without path", []string{"Referer: http://site.i2p"}, RequestOptions{}, http.Header{"Referer": {"/"}}},
		{"referer cross origin dropped", []string{"Referer: http://other.i2p/page"}, RequestOptions{}, http.Header{}},
		{"referer subdomain is cross origin", []string{"Referer: http://www.site.i2p/"}, RequestOptions{}, http.Header{}},
		{"referer other port dropped", []string{"Referer: http://site.i2p:8080/page"}, RequestOptions{}, http.Header{}},
		{"referer other scheme dropped", []string{"Referer: https://site.i2p/page"}, RequestOptions{}, http.Header{}},
		{"referer partial URI kept", []string{"Referer: /page?a=1#f"}, RequestOptions{}, http.Header{"Referer": {"/page?a=1"}}},
		{"referer network-path dropped", []string{"Referer: //other.i2p/page"}, RequestOptions{}, http.Header{}},
		{"referer relative path dropped", []string{"Referer: page"}, RequestOptions{}, http.Header{}},
		{"referer unparsable dropped", []string{"Referer: http://site.i2p:bad/"}, RequestOptions{}, http.Header{}},

		{"connection dropped", []string{"Connection: keep-alive"}, RequestOptions{}, http.Header{}},
		{"connection-listed headers dropped", []string{"Connection: close, X-Hop", "X-Hop: secret", "X-End: kept"}, RequestOptions{}, http.Header{"X-End": {"kept"}}},
		{"keep-alive dropped", []string{"Keep-Alive: timeout=5"}, RequestOptions{}, http.Header{}},
		{"te and trailer dropped", []string{"TE: trailers", "Trailer: X-Checksum"}, RequestOptions{}, http.Header{}},
		{"upgrade without connection dropped", []string{"Upgrade: websocket"}, RequestOptions{}, http.Header{}},
		{"websocket upgrade kept", []string{"Connection: keep-alive, Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"}, RequestOptions{}, http.Header{
			"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Version": {"13"},
		}},

		{"cookie kept", []string{"Cookie: session=abc; theme=dark"}, RequestOptions{}, http.Header{"Cookie": {"session=abc; theme=dark"}}},
		{"origin kept", []string{"Origin: http://site.i2p"}, RequestOptions{}, http.Header{"Origin": {"http://site.i2p"}}},
		{"x-requested-with ajax kept", []string{"X-Requested-With: XMLHttpRequest"}, RequestOptions{}, http.Header{"X-Requested-With": {"XMLHttpRequest"}}},
		{"x-requested-with app id dropped", []string{"X-Requested-With: com.example.browser"}, RequestOptions{}, http.Header{}},
		{"authorization basic kept", []string{"Authorization: Basic YTpi"}, RequestOptions{}, http.Header{"Authorization": {"Basic YTpi"}}},
		{"authorization ntlm dropped", []string{"Authorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=="}, RequestOptions{}, http.Header{}},
		{"authorization negotiate dropped", []string{"Authorization: negotiate YIIB"}, RequestOptions{}, http.Header{}},
		{"client hints dropped", []string{`Sec-CH-UA: "Chromium";v="126"`, "Sec-CH-UA-Platform: \"Linux\"", "Sec-CH-UA-Mobile: ?0"}, RequestOptions{}, http.Header{}},
		{"fetch metadata kept", []string{"Sec-Fetch-Mode: navigate", "Sec-Fetch-Site: same-origin"}, RequestOptions{}, http.Header{"Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Site": {"same-origin"}}},
		{"unrelated headers kept", []string{"Upgrade-Insecure-Requests: 1", "Priority: u=0, i", "If-None-Match: \"abc\""}, RequestOptions{}, http.Header{
			"Upgrade-Insecure-Requests": {"1"}, "Priority": {"u=0, i"}, "If-None-Match": {`"abc"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "GET http://site.i2p/page?x=1 HTTP/1.1\nHost: site.i2p\n"
			for _, l := range tt.in {
				raw += l + "\n"
			}
			r := readRequest(t, raw+"\n")
			if err := ScrubRequest(r, tt.opts); err != nil {
				t.Fatal(err)
			}
			want := tt.want.Clone()
			if _, ok := want["User-Agent"]; !ok {
				want["User-Agent"] = []string{UserAgent}
			}
			if !reflect.DeepEqual(r.Header, want) {
				t.Errorf("headers after scrubbing:\n got %v\nwant %v", r.Header, want)
			}
		})
	}
}

// Handlers may set header keys without canonicalizing them; the rules must
// still see them.
func TestScrubRequestNonCanonicalKeys(t *testing.T) {
	r := readRequest(t, "GET http://site.i2p/ HTTP/1.1\nHost: site.i2p\n\n")
	r.Header["x-forwarded-for"] = []string{"192.0.2.1"}
	r.Header["user-agent"] = []string{"leak"}
	r.Header["accept-language"] = []string{"de"}
	if err := ScrubRequest(r, RequestOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := (http.Header{"User-Agent": {UserAgent}}); !reflect.DeepEqual(r.Header, want) {
		t.Errorf("headers = %v, want %v", r.Header, want)
	}
}

func TestScrubRequestTarget(t *testing.T) {
	tests := []struct {
		name           string
		raw            string
		wantRequestURI string
		wantHost       string
		wantURL        string
	}{
		{"absolute form", "GET http://site.i2p/a/b?c=d HTTP/1.1\nHost: site.i2p\n\n", "/a/b?c=d", "site.i2p", "http://site.i2p/a/b?c=d"},
		{"no path", "GET http://site.i2p HTTP/1.1\nHost: site.i2p\n\n", "/", "site.i2p", "http://site.i2p"},
		{"userinfo removed", "GET http://user:secret@site.i2p/x HTTP/1.1\nHost: site.i2p\n\n", "/x", "site.i2p", "http://site.i2p/x"},
		{"host lower-cased, default port removed", "GET http://Site.I2P:80/x HTTP/1.1\nHost: Site.I2P:80\n\n", "/x", "site.i2p", "http://site.i2p/x"},
		{"other port kept", "GET http://site.i2p:8080/x HTTP/1.1\nHost: site.i2p:8080\n\n", "/x", "site.i2p:8080", "http://site.i2p:8080/x"},
		{"URL wins over a different Host header", "GET http://site.i2p/x HTTP/1.1\nHost: evil.i2p\n\n", "/x", "site.i2p", "http://site.i2p/x"},
		{"origin form inside a tunnel", "GET /x?y=1 HTTP/1.1\nHost: Site.i2p\n\n", "/x?y=1", "site.i2p", "http://site.i2p/x?y=1"},
		{"escaped path kept", "GET http://site.i2p/a%2Fb%20c HTTP/1.1\nHost: site.i2p\n\n", "/a%2Fb%20c", "site.i2p", "http://site.i2p/a%2Fb%20c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := readRequest(t, tt.raw)
			if err := ScrubRequest(r, RequestOptions{}); err != nil {
				t.Fatal(err)
			}
			if r.RequestURI != tt.wantRequestURI || r.Host != tt.wantHost || r.URL.String() != tt.wantURL {
				t.Errorf("RequestURI %q Host %q URL %q; want %q %q %q", r.RequestURI, r.Host, r.URL, tt.wantRequestURI, tt.wantHost, tt.wantURL)
			}
		})
	}
}

func TestScrubRequestFragmentRemoved(t *testing.T) {
	u, err := url.Parse("http://site.i2p/x?q#frag")
	if err != nil {
		t.Fatal(err)
	}
	r := &http.Request{Method: "GET", URL: u, Header: http.Header{}}
	if err := ScrubRequest(r, RequestOptions{}); err != nil {
		t.Fatal(err)
	}
	if r.URL.String() != "http://site.i2p/x?q" || r.RequestURI != "/x?q" {
		t.Errorf("URL %q RequestURI %q, want no fragment", r.URL, r.RequestURI)
	}
}

func TestScrubRequestErrors(t *testing.T) {
	tests := []struct {
		name string
		req  func(t *testing.T) *http.Request
		err  error
	}{
		{"connect", func(t *testing.T) *http.Request {
			return readRequest(t, "CONNECT site.i2p:443 HTTP/1.1\nHost: site.i2p:443\nUser-Agent: leak\n\n")
		}, ErrConnect},
		{"no host", func(t *testing.T) *http.Request {
			return readRequest(t, "GET /x HTTP/1.0\nUser-Agent: leak\n\n")
		}, ErrNoHost},
		{"non-numeric port", func(*testing.T) *http.Request {
			return &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: "site.i2p:x", Path: "/"}, Header: http.Header{"User-Agent": {"leak"}}}
		}, ErrBadHost},
		{"empty port", func(*testing.T) *http.Request {
			return &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Host: "site.i2p:", Header: http.Header{"User-Agent": {"leak"}}}
		}, ErrBadHost},
		{"userinfo in Host", func(*testing.T) *http.Request {
			return &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Host: "a@site.i2p", Header: http.Header{"User-Agent": {"leak"}}}
		}, ErrBadHost},
		{"unbracketed colons", func(*testing.T) *http.Request {
			return &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Host: "a:b:80", Header: http.Header{"User-Agent": {"leak"}}}
		}, ErrBadHost},
		{"other scheme", func(t *testing.T) *http.Request {
			return readRequest(t, "GET ftp://site.i2p/file HTTP/1.1\nHost: site.i2p\nUser-Agent: leak\n\n")
		}, ErrBadTarget},
		{"opaque target", func(t *testing.T) *http.Request {
			return readRequest(t, "GET http:opaque HTTP/1.1\nHost: site.i2p\nUser-Agent: leak\n\n")
		}, ErrBadTarget},
		{"nil URL", func(*testing.T) *http.Request {
			return &http.Request{Method: "GET", Host: "site.i2p", Header: http.Header{"User-Agent": {"leak"}}}
		}, ErrNoHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req(t)
			if err := ScrubRequest(r, RequestOptions{}); !errors.Is(err, tt.err) {
				t.Fatalf("ScrubRequest error = %v, want %v", err, tt.err)
			}
			if r.Header.Get("User-Agent") != "leak" {
				t.Error("a refused request was modified")
			}
		})
	}
}

func TestNormalizeAuthority(t *testing.T) {
	tests := []struct {
		scheme, in, want string
		err              error
	}{
		{"http", "Site.I2P", "site.i2p", nil},
		{"http", "site.i2p:80", "site.i2p", nil},
		{"https", "site.i2p:443", "site.i2p", nil},
		{"https", "site.i2p:80", "site.i2p:80", nil},
		{"http", "[::1]:8080", "[::1]:8080", nil},
		{"http", "[::1]", "[::1]", nil},
		{"http", "[::1]:80", "[::1]", nil},
		{"http", "", "", ErrBadHost},
		{"http", ":80", "", ErrBadHost},
		{"http", "site.i2p:8a", "", ErrBadHost},
		{"http", "site i2p", "", ErrBadHost},
	}
	for _, tt := range tests {
		got, err := normalizeAuthority(tt.scheme, tt.in)
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) || got != tt.want {
			t.Errorf("normalizeAuthority(%s, %q) = %q, %v; want %q, %v", tt.scheme, tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestScrubResponse(t *testing.T) {
	tests := []struct {
		name   string
		status int
		in     http.Header
		want   http.Header
	}{
		{"proxy-authenticate dropped", 407, http.Header{"Proxy-Authenticate": {`Basic realm="x"`}}, http.Header{}},
		{"proxy-* dropped", 200, http.Header{"Proxy-Connection": {"close"}, "Proxy-Authentication-Info": {"x"}}, http.Header{}},
		{"connection and listed headers dropped", 200, http.Header{"Connection": {"close, X-Hop"}, "X-Hop": {"1"}, "Content-Type": {"text/html"}}, http.Header{"Content-Type": {"text/html"}}},
		{"keep-alive dropped", 200, http.Header{"Keep-Alive": {"timeout=5"}}, http.Header{}},
		{"upgrade outside 101 dropped", 200, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}}, http.Header{}},
		{"switching protocols keeps upgrade", 101, http.Header{"Connection": {"upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Accept": {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}}, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Accept": {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}}},
		{"alt-svc dropped", 200, http.Header{"Alt-Svc": {`h3=":443"; ma=86400`}}, http.Header{}},
		{"non-canonical proxy key dropped", 200, http.Header{"proxy-authenticate": {"Basic"}}, http.Header{}},
		{"content headers kept", 200, http.Header{"Set-Cookie": {"a=b; HttpOnly"}, "Content-Length": {"3"}, "Cache-Control": {"no-store"}}, http.Header{"Set-Cookie": {"a=b; HttpOnly"}, "Content-Length": {"3"}, "Cache-Control": {"no-store"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: tt.in.Clone()}
			ScrubResponse(resp)
			if !reflect.DeepEqual(resp.Header, tt.want) {
				t.Errorf("headers = %v, want %v", resp.Header, tt.want)
			}
		})
	}
	ScrubResponse(&http.Response{StatusCode: 204}) // nil Header: nothing to do, no panic
}

// FuzzScrubRequest parses arbitrary requests and checks the policy's
// guarantees on whatever net/http accepts: no dropped header survives, the
// User-Agent is ours, the target is origin-form, and a second pass changes
// nothing (the proxy may apply the policy at two layers).
func FuzzScrubRequest(f *testing.F) {
	f.Add("GET http://site.i2p/a?b HTTP/1.1\r\nHost: site.i2p\r\nReferer: http://site.i2p/x#y\r\nAccept: text/css,*/*;q=0.1\r\nConnection: x-a, upgrade\r\nUpgrade: websocket\r\nX-A: 1\r\n\r\n")
	f.Add("GET /p HTTP/1.1\r\nHost: Site.i2p:80\r\nX-Forwarded-For: 1.2.3.4\r\nAccept-Language: de\r\nProxy-Authorization: x\r\n\r\n")
	f.Add("POST http://u:p@site.i2p:8080/f HTTP/1.0\r\nAuthorization: NTLM abc\r\nX-Requested-With: app\r\nContent-Length: 0\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		if err := ScrubRequest(r, RequestOptions{}); err != nil {
			return
		}
		for k := range r.Header {
			if dropRequestHeader(k) || k == "Keep-Alive" || k == "Te" || k == "Trailer" || k == "Transfer-Encoding" {
				t.Fatalf("header %q survived", k)
			}
		}
		if got := r.Header.Values("User-Agent"); len(got) != 1 || got[0] != UserAgent {
			t.Fatalf("User-Agent = %q", got)
		}
		if !strings.HasPrefix(r.RequestURI, "/") && r.RequestURI != "*" {
			t.Fatalf("RequestURI %q is not origin-form", r.RequestURI)
		}
		if ref := r.Header.Get("Referer"); ref != "" && !strings.HasPrefix(ref, "/") {
			t.Fatalf("Referer %q kept a scheme or host", ref)
		}
		once := r.Header.Clone()
		uri, host := r.RequestURI, r.Host
		if err := ScrubRequest(r, RequestOptions{}); err != nil {
			t.Fatalf("second pass: %v", err)
		}
		if !reflect.DeepEqual(r.Header, once) || r.RequestURI != uri || r.Host != host {
			t.Fatalf("second pass changed the request:\n%v %s %s\n%v %s %s", once, uri, host, r.Header, r.RequestURI, r.Host)
		}
	})
}
