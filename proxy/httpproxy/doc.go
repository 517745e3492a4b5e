// Package httpproxy is the eepproxy: the browser-facing HTTP proxy that
// sends ".i2p" requests into I2P. This part holds its header policy, pure
// functions over net/http values that the proxy applies to every request
// it forwards (ScrubRequest), to every response it returns (ScrubResponse),
// and, after SniffTunnel has recognized plain HTTP inside a CONNECT tunnel
// to an ".i2p" host, to the requests and responses inside that tunnel too
// (the gap behind i2pd #2427, where a client's CONNECT to port 80 carried
// its full browser headers to the eepsite).
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
