// Package httpproxy is the eepproxy: the browser-facing HTTP proxy that
// sends ".i2p" requests into I2P and everything else to outproxies. It is
// the tunnel type "http-proxy" (Tunnel: a loopback listener, default
// 127.0.0.1:4444, and a client destination) around Proxy, an http.Handler
// built on goproxy.
//
//	browser ─HTTP/CONNECT─> Proxy ─┬─ *.i2p ──────> I2P stream to the site
//	                               └─ other hosts ─> outproxy (proxy/outproxy)
//
// # Routing
//
// A "*.b32.i2p" host is its destination hash and is dialed as it is.
// Java I2P's "http://i2p/<base64 destination>/path" form names a
// destination without any name. Other ".i2p" names are resolved in this
// order: helpers the user accepted for this session, the address book
// (router/naming: the tunnel's local book <datadir>/<name>.hosts.txt, then
// the hosts.txt files of `addressbook:`), then the router's own lookup
// (Session.Resolve). The request then goes out with Host set to the
// site's b32: the name the user's book has for a site can identify the
// user, and a site cannot rely on it anyway (naming is local in I2P).
// Hosts outside I2P go to one of `outproxies:`, sticky per host with
// failover (outproxy.Pool); with none configured the answer is an error
// page, never a direct connection. The proxy's own address, loopback and
// private addresses and single-label names are refused.
//
// # Address helpers and jump services
//
// "?i2paddresshelper=<base64|b32>" on a ".i2p" URL never acts by itself.
// If the name already maps to that destination the browser is redirected
// to the URL without the parameter. For a new name a confirmation page
// offers "continue without saving" (this proxy, until it restarts) and
// "save" (the local book). For a name that maps elsewhere (a book, or the
// router's address book) a conflict page shows both destinations and
// offers to use the new one once or to replace the entry; nothing is
// overwritten silently. The pages post to http://proxy.i2p/addresshelper
// with an HMAC token over every field under a per-proxy random key, so a
// third-party page can neither forge a decision nor reuse a token it read
// for another name, destination, action or URL; the pages also forbid
// framing. The unknown-host page lists the configured jump services
// (`jump:`) as links; they are never followed automatically (a jump
// service that answered automatically could point any name anywhere,
// i2pd #955).
//
// # Error pages
//
// Small self-contained HTML with the status that fits: 404 unknown host
// (with jump links) or reserved name, 502 destination not found or
// unreachable, 504 timeout, 503 no outproxy configured, 502 no outproxy
// reachable or outproxy refused, 400 bad request (bad URL, scheme, name,
// helper), 403 local or private address, 508 a request addressed to the
// proxy itself.
//
// # CONNECT
//
// CONNECT works for ".i2p" hosts (a stream to the destination, any port)
// and for other hosts (a CONNECT through an outproxy). Before any byte of
// the browser goes through, its first bytes are sniffed (SniffTunnel):
// TLS and other protocols pass untouched; plain HTTP/1 is not refused but
// filtered: it is served by an HTTP server inside the tunnel that hands
// every request to this proxy, so each request on the tunnel gets the
// header policy and error pages of any proxied request (this closes the gap behind
// i2pd #2427, where a client's CONNECT to port 80 carried its full browser
// headers to the eepsite). Cleartext HTTP/2 cannot be filtered and is
// refused by closing the tunnel. Because a server-speaks-first protocol
// (SMTP) would deadlock a sniffer waiting for the client, the target is
// watched too; if it speaks first its bytes flow at once, and HTTP sent
// after that is refused rather than passed unfiltered, since no HTTP
// server speaks first.
//
// # Header policy
//
// The policy is pure functions over net/http values that the proxy
// applies to every request it forwards (ScrubRequest), to every response
// it returns (ScrubResponse), and to the requests and responses inside a
// CONNECT tunnel carrying plain HTTP. Requests that leave through an
// outproxy carry OutproxyUserAgent instead of MYOB.
//
// # Request policy (browser → I2P)
//
// The goal is that every user of the proxy looks the same to an eepsite
// and that nothing about the user's machine, network or address book
// leaves it. Per header:
//
//   - User-Agent: replaced by "MYOB/6.66 (AN/ON)" (the value Java I2P and
//     i2pd send inside I2P, so our users blend in with theirs).
//   - Accept: normalized, not dropped. Dropping it (i2pd) breaks servers
//     that negotiate HTML versus JSON; passing it (go-i2ptunnel) tells
//     Firefox from Chromium. Browser-generated lists are reduced to one of
//     three canonical values (an HTML list if it mentions text/html, an
//     image list if it starts with image/, a stylesheet list for text/css)
//     or to "*/*"; a single media range without alternatives (what a
//     page's script or a simple client asks for, the same in every
//     browser) is kept, so APIs that want application/json still work.
//   - Accept-*: dropped (Accept-Language names the user's language),
//     except Accept-Encoding, which the response depends on.
//   - Referer: dropped when cross-origin; a same-origin Referer (same
//     scheme, host and port as the request) is cut to path and query,
//     which is a valid partial-URI (RFC 9110 section 10.1.3). The query
//     stays because the site already saw it when it served that page and
//     sites use it for navigation; the host goes because it is the name
//     the user typed, possibly a private petname. Call ScrubRequest before
//     the proxy rewrites Host (to a b32, say), so "same origin" is judged
//     against what the browser asked for.
//   - Via, From, Forwarded, X-Forwarded-*, X-Real-IP, Client-IP,
//     True-Client-IP and similar client-address headers: dropped.
//   - DNT and Sec-GPC: dropped. They carry no request for us to honour
//     inside I2P and are one more bit that differs between users.
//   - Sec-CH-* (client hints): dropped; they name the real browser brand,
//     version and platform and would contradict the replaced User-Agent.
//     Sec-Fetch-* are kept: sites use them against cross-site request
//     forgery, and they vary with the request, not the user.
//   - X-Requested-With: kept only as "XMLHttpRequest"; Android WebViews
//     put the embedding app's package name there.
//   - Authorization: dropped for the NTLM and Negotiate schemes, whose
//     tokens carry Windows host and domain names; Basic and Bearer
//     (site logins) pass.
//   - Proxy-* (Proxy-Authorization, Proxy-Connection, ...): dropped; they
//     belong to the hop to this proxy.
//   - Hop-by-hop headers (RFC 9110 section 7.6.1): Connection, every header
//     it lists, Keep-Alive, TE, Trailer, Transfer-Encoding and Upgrade are
//     removed. The one exception is a protocol upgrade (WebSocket): when
//     Connection lists "upgrade" and Upgrade is present, Upgrade is kept
//     and Connection is reduced to "Upgrade".
//   - Cookie: kept. The browser already sends a site only its own cookies
//     (cookies are scoped per host), so there is nothing cross-site to
//     remove, and dropping them would break every login.
//   - Origin: kept. It is sent for CORS and cross-origin POSTs, which
//     need it to work at all.
//   - Request target: absolute-form ("GET http://host/path") becomes
//     origin-form: RequestURI is the path and query, Host is the
//     lower-cased authority without a default port, and userinfo and
//     fragment are removed from the URL. The URL stays absolute so the
//     proxy's transport knows where to dial (goproxy clears RequestURI
//     itself before the round trip).
//
// # Response policy (I2P → browser)
//
// Proxy-* headers are dropped (an eepsite has no business asking for the
// credentials of the user's proxy), hop-by-hop headers are removed as for
// requests (except on a 101 Switching Protocols answer), and Alt-Svc is
// dropped: an alternative service is a clearnet address the browser might
// contact directly, outside the proxy.
package httpproxy
