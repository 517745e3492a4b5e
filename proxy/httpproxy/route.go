package httpproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"i2pbridge/bridge/i2pnet"
	"i2pbridge/proxy/outproxy"
	"i2pbridge/router/data"
	"i2pbridge/router/naming"
)

// LocalHost is the host name of the proxy's own pages (the address helper
// form posts there). It is reserved in the naming rules, so no book can
// map it to a site.
const LocalHost = "proxy.i2p"

// routeKind is where a request goes.
type routeKind int

const (
	routeI2P      routeKind = iota + 1 // to an I2P destination
	routeOutproxy                      // outside I2P, through an outproxy
)

func (k routeKind) String() string {
	switch k {
	case routeI2P:
		return "i2p"
	case routeOutproxy:
		return "outproxy"
	}
	return fmt.Sprintf("routeKind(%d)", int(k))
}

// route is the decision for one request (or CONNECT tunnel).
type route struct {
	kind routeKind
	host string // as the user asked for it: lower case, no port
	port string // explicit or the scheme's default
	b32  string // routeI2P: the destination's b32 address
}

// route decides where r goes. It returns a response instead when the
// proxy answers itself: its own pages, a redirect, or an error page.
func (p *Proxy) route(r *http.Request) (*route, *http.Response) {
	scheme := strings.ToLower(r.URL.Scheme)
	if scheme != "http" && scheme != "https" {
		return nil, problemResponse(r, badRequest(fmt.Sprintf("%q URLs cannot be fetched through this proxy (http and https only).", r.URL.Scheme)))
	}
	host := strings.TrimSuffix(strings.ToLower(r.URL.Hostname()), ".")
	port := r.URL.Port()
	if port == "" {
		port = defaultPort(scheme)
	}
	if host == "" {
		return nil, problemResponse(r, badRequest("The request names no host."))
	}
	switch {
	case host == LocalHost:
		return nil, p.localPage(r)
	case host == "i2p":
		return p.routeBase64(r, port)
	case strings.HasSuffix(host, ".i2p"):
		h, err := naming.ParseHost(host)
		if err != nil {
			return nil, problemResponse(r, badRequest(fmt.Sprintf("%s is not a valid I2P host name: %v", host, err)))
		}
		if h.Reserved {
			return nil, problemResponse(r, &problem{Status: http.StatusNotFound, Title: "Reserved name", Host: host,
				Message: "This name is reserved for local services and never names a site."})
		}
		if h.Kind == naming.HostName {
			if resp := p.addressHelper(r, h.Name); resp != nil {
				return nil, resp
			}
		}
		rt := &route{kind: routeI2P, host: h.Name, port: port}
		if h.Kind == naming.HostB32 {
			rt.b32 = h.Name
			return rt, nil
		}
		hash, err := p.lookup(r.Context(), h.Name)
		if err != nil {
			return nil, problemResponse(r, p.failure(r.Context(), rt, err))
		}
		rt.b32 = hash.B32()
		return rt, nil
	}
	if pr := p.checkClearnetHost(host, port); pr != nil {
		return nil, problemResponse(r, pr)
	}
	if len(p.cfg.Outproxies) == 0 {
		return nil, problemResponse(r, noOutproxy(host))
	}
	return &route{kind: routeOutproxy, host: host, port: port}, nil
}

// routeBase64 handles Java I2P's form for a destination without a name,
// http://i2p/<base64 destination>/path: the destination is taken from the
// first path element and the rest becomes the path.
func (p *Proxy) routeBase64(r *http.Request, port string) (*route, *http.Response) {
	rest := strings.TrimPrefix(r.URL.Path, "/")
	b64, path, _ := strings.Cut(rest, "/")
	d, err := data.ParseDestinationBase64(b64)
	if err != nil {
		return nil, problemResponse(r, badRequest("http://i2p/ URLs must continue with a base64 destination: "+err.Error()))
	}
	r.URL.Path = "/" + path
	r.URL.RawPath = ""
	return &route{kind: routeI2P, host: d.B32(), port: port, b32: d.B32()}, nil
}

// checkClearnetHost refuses hosts outside I2P that are not meant for an
// outproxy: the proxy itself (a loop), local and private addresses, and
// single-label names (intranet hosts).
func (p *Proxy) checkClearnetHost(host, port string) *problem {
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	isIP := err == nil
	if isIP {
		ip = ip.Unmap()
	}
	local := host == "localhost" || strings.HasSuffix(host, ".localhost") ||
		(isIP && (ip.IsLoopback() || ip.IsUnspecified()))
	if local && port == p.listenPort {
		return &problem{Status: http.StatusLoopDetected, Title: "Request loop", Host: host,
			Message: "This request is addressed to the proxy itself; forwarding it would loop."}
	}
	if local || (isIP && (ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast())) {
		return &problem{Status: http.StatusForbidden, Title: "Local address refused", Host: host,
			Message: "The proxy does not forward requests to this machine or the local network."}
	}
	if !isIP && !strings.Contains(host, ".") {
		return &problem{Status: http.StatusForbidden, Title: "Host name refused", Host: host,
			Message: "A name without a dot is a local (intranet) name; the proxy does not forward it. I2P names end in .i2p."}
	}
	return nil
}

// lookup resolves an address book name: the helpers the user accepted
// for this session, then the books (local book first), then the router.
func (p *Proxy) lookup(ctx context.Context, name string) (data.Hash, error) {
	p.onceMu.Lock()
	h, ok := p.once[name]
	p.onceMu.Unlock()
	if ok {
		return h, nil
	}
	if p.cfg.Books != nil {
		if m, ok := p.cfg.Books.Lookup(name); ok {
			return m.Dest.Hash(), nil
		}
	}
	d, err := p.resolve(ctx, name)
	if err != nil {
		return data.Hash{}, err
	}
	return d.Hash(), nil
}

// failure maps an error of resolving, dialing or forwarding to a page.
func (p *Proxy) failure(ctx context.Context, rt *route, err error) *problem {
	host := rt.host
	var ne net.Error
	var refused *outproxy.RefusedError
	switch {
	case ctx.Err() != nil:
		// The browser went away; nobody reads this.
		return &problem{Status: http.StatusBadGateway, Title: "Cancelled", Host: host, Message: "The request was cancelled."}
	case errors.Is(err, outproxy.ErrNoOutproxy):
		return noOutproxy(host)
	case errors.Is(err, outproxy.ErrAllFailed):
		return &problem{Status: http.StatusBadGateway, Title: "Outproxy unreachable", Host: host,
			Message: "None of the configured outproxies could be reached. They may be down or their leasesets not found; try again later."}
	case errors.As(err, &refused):
		return &problem{Status: http.StatusBadGateway, Title: "Outproxy refused", Host: host,
			Message: "The outproxy refused to open a tunnel to this site.", Detail: "It answered: " + refused.Status}
	case errors.Is(err, errTimeout), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		msg := "The site did not answer in time. I2P sites are often slow to reach the first time: try again."
		if rt.kind == routeOutproxy {
			msg = "The outproxy or the site behind it did not answer in time."
		}
		return &problem{Status: http.StatusGatewayTimeout, Title: "Timed out", Host: host, Message: msg}
	case errors.Is(err, i2pnet.ErrUnknownName):
		pr := &problem{Status: http.StatusNotFound, Title: "Unknown host", Host: host,
			Message: "No address book entry for this name, and the router could not find it either."}
		for _, j := range p.cfg.Jump {
			pr.Jump = append(pr.Jump, jumpLink{URL: j + url.QueryEscape(host)})
		}
		return pr
	case errors.Is(err, i2pnet.ErrUnreachable):
		return &problem{Status: http.StatusBadGateway, Title: "Site unreachable", Host: host,
			Message: "The destination was not found or did not answer: the site may be offline, or its leaseset not published yet. Try again in a minute."}
	case errors.Is(err, i2pnet.ErrClosed):
		return &problem{Status: http.StatusServiceUnavailable, Title: "Router connection lost", Host: host,
			Message: "The proxy lost its connection to the I2P router; it reconnects by itself. Try again shortly."}
	}
	if rt.kind == routeOutproxy {
		return &problem{Status: http.StatusBadGateway, Title: "Outproxy error", Host: host,
			Message: "The request through the outproxy failed.", Detail: err.Error()}
	}
	return &problem{Status: http.StatusBadGateway, Title: "Site error", Host: host,
		Message: "The connection to the site failed.", Detail: err.Error()}
}

func badRequest(msg string) *problem {
	return &problem{Status: http.StatusBadRequest, Title: "Bad request", Message: msg}
}

func noOutproxy(host string) *problem {
	return &problem{Status: http.StatusServiceUnavailable, Title: "No outproxy", Host: host,
		Message: "This site is outside I2P and no outproxy is configured. The proxy never connects to the clearnet directly; add outproxies to the tunnel to reach such sites."}
}
