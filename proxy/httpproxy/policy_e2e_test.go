package httpproxy

import (
	"net/http"
	"strings"
	"testing"

	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/router/data"
)

// identifying are browser headers that must never reach a site, each with
// a distinctive value the site's recording is searched for (anywhere: any
// header, the request line, Host).
var identifying = []struct {
	header, value string
}{
	{"User-Agent", "Mozilla/5.0 LEAKED-UA-7f3a"},
	{"Via", "1.1 leaked-via-host-91c2"},
	{"From", "leaked-from-addr-5d1e@example.org"},
	{"Forwarded", "for=198.51.100.77;by=leaked-fwd-0b9"},
	{"X-Forwarded-For", "203.0.113.66-leaked-xff"},
	{"X-Forwarded-Host", "leaked-xfh-44aa.example"},
	{"X-Forwarded-Proto", "leaked-xfp-e6"},
	{"X-Real-IP", "203.0.113.99-leaked-xri"},
	{"Client-IP", "203.0.113.12-leaked-cip"},
	{"True-Client-IP", "203.0.113.13-leaked-tcip"},
	{"X-Client-IP", "203.0.113.14-leaked-xcip"},
	{"CF-Connecting-IP", "203.0.113.15-leaked-cf"},
	{"DNT", "1-leaked-dnt-c0"},
	{"Sec-GPC", "1-leaked-gpc-c1"},
	{"Sec-CH-UA", `"Leaked Brand";v="31337"`},
	{"Sec-CH-UA-Platform", `"LeakedOS-8e"`},
	{"Accept-Language", "xx-LEAKED-lang-3f"},
	{"Accept-Charset", "leaked-charset-2b"},
	{"Proxy-Authorization", "Basic bGVha2VkLXByb3h5LWF1dGg="},
	{"Proxy-Connection", "leaked-proxy-conn-71"},
	{"Authorization", "NTLM TlRMTVNTUAABAAAAleakedntlm"},
	{"X-Requested-With", "com.leaked.webview.app"},
	{"Referer", "http://other-leaked-site.i2p/secret-page"},
	{"Keep-Alive", "timeout=5-leaked-ka"},
}

// TestPolicyEndToEnd sends each identifying header, one request each,
// through the proxy to a recording eepsite, which must see none of their
// values. The request is for a name from the user's book: that petname
// must not reach the site either (Host is the b32, a same-origin Referer
// keeps only the path).
func TestPolicyEndToEnd(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	e := newEnv(t, n, withBook(map[string]data.Destination{"my-private-petname.i2p": site.dest}))

	for _, h := range identifying {
		t.Run(h.header, func(t *testing.T) {
			resp, body := e.get("http://my-private-petname.i2p/page", h.header, h.value)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			wire := site.last(t).wire()
			if strings.Contains(strings.ToLower(wire), strings.ToLower(h.value)) {
				t.Errorf("the site saw %s's value:\n%s", h.header, wire)
			}
			if strings.Contains(wire, "my-private-petname") {
				t.Errorf("the site saw the user's name for it:\n%s", wire)
			}
		})
	}

	t.Run("same-origin Referer is cut to the path", func(t *testing.T) {
		e.get("http://my-private-petname.i2p/b", "Referer", "http://my-private-petname.i2p/a?q=1")
		got := site.last(t)
		if ref := got.Req.Header.Get("Referer"); ref != "/a?q=1" {
			t.Errorf("Referer %q, want /a?q=1", ref)
		}
		if strings.Contains(got.wire(), "my-private-petname") {
			t.Errorf("petname leaked:\n%s", got.wire())
		}
	})
	t.Run("site-relevant headers pass", func(t *testing.T) {
		e.get("http://my-private-petname.i2p/c", "Cookie", "sid=abc123", "Accept-Encoding", "gzip", "Authorization", "Basic dXNlcjpwYXNz")
		got := site.last(t).Req.Header
		if got.Get("Cookie") != "sid=abc123" || got.Get("Accept-Encoding") != "gzip" || got.Get("Authorization") != "Basic dXNlcjpwYXNz" {
			t.Errorf("headers the site needs were changed: %v", got)
		}
		if got.Get("User-Agent") != UserAgent {
			t.Errorf("User-Agent %q", got.Get("User-Agent"))
		}
	})
}

// TestPolicyResponses: headers a site must not get to the browser are
// removed from its responses.
func TestPolicyResponses(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Alt-Svc", `h3=":443"; ma=86400`)
		w.Header().Set("Proxy-Authenticate", `Basic realm="gimme"`)
		w.Header().Set("X-Site", "kept")
		w.Write([]byte("ok"))
	}))
	e := newEnv(t, n)
	resp, _ := e.get("http://" + site.b32() + "/")
	if resp.Header.Get("Alt-Svc") != "" || resp.Header.Get("Proxy-Authenticate") != "" {
		t.Errorf("response headers not scrubbed: %v", resp.Header)
	}
	if resp.Header.Get("X-Site") != "kept" {
		t.Errorf("site header lost: %v", resp.Header)
	}
}
