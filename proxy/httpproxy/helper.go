package httpproxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"i2pbridge/router/data"
	"i2pbridge/router/naming"
)

// Helper actions, the "action" field of the helper forms.
const (
	actionOnce    = "once"    // use the helper's destination until the proxy restarts
	actionSave    = "save"    // add the name to the local book
	actionReplace = "replace" // overwrite a conflicting entry in the local book
)

// helperPath is where the helper forms post, on LocalHost.
const helperPath = "/addresshelper"

// maxFormBody bounds a helper form post (a base64 destination is under
// 1100 bytes; URLs are the rest).
const maxFormBody = 64 << 10

// splitHelper removes every i2paddresshelper parameter from a raw query.
// It returns the first one's value (URL-decoded) and the other
// parameters, untouched, in their order.
func splitHelper(rawQuery string) (value, rest string, found bool, err error) {
	var kept []string
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		if key, kerr := url.QueryUnescape(k); kerr != nil || key != naming.HelperParam {
			if part != "" {
				kept = append(kept, part)
			}
			continue
		}
		if !found {
			found = true
			value, err = url.QueryUnescape(v)
		}
	}
	return value, strings.Join(kept, "&"), found, err
}

// helperToken binds a helper form's fields to this proxy: an HMAC under a
// per-proxy random key. A page elsewhere cannot produce one, so it cannot
// make the browser post a helper the user never saw; and a token read from
// one name's confirm page (a site can read pages of its own origin) is
// worthless for any other name, destination, action or URL.
func (p *Proxy) helperToken(action, host, helper, target string) string {
	m := hmac.New(sha256.New, p.secret[:])
	for _, s := range []string{"i2pbridge address helper", action, host, helper, target} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (p *Proxy) helperForm(action, label, host, helper, target string) helperForm {
	return helperForm{Action: action, Label: label, Host: host, Helper: helper, URL: target,
		Token: p.helperToken(action, host, helper, target)}
}

// current is what name resolves to now, and where that comes from, for
// comparing with a helper: the session's accepted helpers, the books,
// then the router's own address book. Only a definite answer counts;
// when the router cannot be asked the name is treated as new (the user
// still has to confirm).
func (p *Proxy) current(r *http.Request, name string) (h data.Hash, source string, ok bool) {
	p.onceMu.Lock()
	h, ok = p.once[name]
	p.onceMu.Unlock()
	if ok {
		return h, "accepted for this session", true
	}
	if p.cfg.Books != nil {
		if m, found := p.cfg.Books.Lookup(name); found {
			src := "local address book"
			if !m.Local {
				src = filepath.Base(m.Source)
			}
			return m.Dest.Hash(), src, true
		}
	}
	if d, err := p.resolve(r.Context(), name); err == nil {
		return d.Hash(), "router address book", true
	}
	return data.Hash{}, "", false
}

// canSave reports whether there is a local book to save helpers in.
func (p *Proxy) canSave() bool { return p.cfg.Books != nil && p.cfg.LocalBook }

// addressHelper handles an i2paddresshelper parameter on a request for
// name. It returns nil when there is none; otherwise the page to show: a
// redirect to the URL without it when the name already maps to the
// helper's destination, a confirmation page for a new name, a conflict
// page showing both destinations when the name maps elsewhere.
func (p *Proxy) addressHelper(r *http.Request, name string) *http.Response {
	value, rest, found, err := splitHelper(r.URL.RawQuery)
	if !found {
		return nil
	}
	if err != nil {
		return problemResponse(r, badRequest("The address helper is not correctly URL-encoded."))
	}
	clean := *r.URL
	clean.RawQuery, clean.ForceQuery = rest, false
	clean.User, clean.Fragment, clean.RawFragment = nil, "", ""
	cleanURL := clean.String()

	h, err := naming.ParseAddressHelper(value)
	if err != nil {
		pr := badRequest("The address helper in this link is not a destination or b32 address.")
		pr.Title, pr.Host, pr.Detail = "Bad address helper", name, err.Error()
		return problemResponse(r, pr)
	}
	existing, source, known := p.current(r, name)
	switch {
	case known && existing == h.Hash:
		return redirect(r, cleanURL, 0)
	case known:
		page := helperPage{Title: "Address conflict", Host: name, NewB32: h.Hash.B32(),
			Existing: existing.B32(), Source: source, CleanURL: cleanURL}
		page.Forms = append(page.Forms, p.helperForm(actionOnce, "Use the link's destination for this session", name, value, cleanURL))
		if p.canSave() {
			page.Forms = append(page.Forms, p.helperForm(actionReplace, "Replace the entry in my local address book", name, value, cleanURL))
		}
		return render(r, http.StatusConflict, conflictPage, page)
	}
	page := helperPage{Title: "Confirm address helper", Host: name, NewB32: h.Hash.B32(), CleanURL: cleanURL}
	page.Forms = append(page.Forms, p.helperForm(actionOnce, "Continue without saving", name, value, cleanURL))
	if p.canSave() {
		page.Forms = append(page.Forms, p.helperForm(actionSave, "Save to my local address book and continue", name, value, cleanURL))
	}
	return render(r, http.StatusOK, confirmPage, page)
}

// localPage serves the proxy's own host, LocalHost.
func (p *Proxy) localPage(r *http.Request) *http.Response {
	switch r.URL.Path {
	case helperPath:
		return p.helperAction(r)
	case "", "/":
		return problemResponse(r, &problem{Status: http.StatusOK, Title: "i2pbridge HTTP proxy",
			Message: "The proxy is working: .i2p sites are reachable through it."})
	}
	return problemResponse(r, &problem{Status: http.StatusNotFound, Title: "Not found", Message: "The proxy has no such page."})
}

// helperAction applies a posted helper form.
func (p *Proxy) helperAction(r *http.Request) *http.Response {
	if r.Method != http.MethodPost {
		resp := problemResponse(r, &problem{Status: http.StatusMethodNotAllowed, Title: "Method not allowed",
			Message: "Address helper decisions are posted from the proxy's confirmation page."})
		resp.Header.Set("Allow", http.MethodPost)
		return resp
	}
	if r.Body != nil {
		r.Body = io.NopCloser(io.LimitReader(r.Body, maxFormBody))
	}
	if err := r.ParseForm(); err != nil {
		return problemResponse(r, badRequest("The form could not be read."))
	}
	f := r.PostForm
	action, host, helper, target := f.Get("action"), f.Get("host"), f.Get("helper"), f.Get("url")
	want := p.helperToken(action, host, helper, target)
	if !hmac.Equal([]byte(f.Get("token")), []byte(want)) {
		return problemResponse(r, &problem{Status: http.StatusForbidden, Title: "Form refused",
			Message: "This form was not made by this proxy (or the proxy restarted since). Open the link with the address helper again."})
	}
	// The token vouches for the fields; they are still checked, since
	// a bug in a page must not turn into a bad book entry.
	h, err := naming.ParseAddressHelper(helper)
	if err != nil {
		return problemResponse(r, badRequest("Bad address helper: "+err.Error()))
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || strings.ToLower(u.Hostname()) != host {
		return problemResponse(r, badRequest("The form's return URL does not belong to "+host+"."))
	}
	rt := &route{kind: routeI2P, host: host}
	switch action {
	case actionOnce:
		p.setOnce(host, h.Hash)
		p.log.Debug("address helper accepted for this session", "host", host, "dest", h.Hash.Short())
	case actionSave, actionReplace:
		if !p.canSave() {
			return problemResponse(r, &problem{Status: http.StatusServiceUnavailable, Title: "No local address book", Host: host,
				Message: "This proxy has no local address book to save the name in."})
		}
		dest := h.Dest
		if h.Kind == naming.HelperB32 {
			// A book entry needs the whole destination: ask the
			// network for it (its leaseset carries it).
			d, err := p.resolve(r.Context(), h.Hash.B32())
			if err != nil {
				return problemResponse(r, p.failure(r.Context(), rt, err))
			}
			dest = d
		}
		if action == actionSave {
			err = p.cfg.Books.Add(host, dest)
		} else {
			_, err = p.cfg.Books.Replace(host, dest)
		}
		var ce *naming.ConflictError
		switch {
		case errors.As(err, &ce):
			// Someone else saved the name meanwhile: show both again.
			page := helperPage{Title: "Address conflict", Host: host, NewB32: h.Hash.B32(),
				Existing: ce.Existing.B32(), Source: filepath.Base(ce.Source), CleanURL: target}
			page.Forms = append(page.Forms,
				p.helperForm(actionOnce, "Use the link's destination for this session", host, helper, target),
				p.helperForm(actionReplace, "Replace the entry in my local address book", host, helper, target))
			return render(r, http.StatusConflict, conflictPage, page)
		case err != nil:
			p.log.Warn("saving to the local address book failed", "err", err)
			return problemResponse(r, &problem{Status: http.StatusInternalServerError, Title: "Not saved", Host: host,
				Message: "The name could not be saved in the local address book.", Detail: err.Error()})
		}
		p.clearOnce(host)
		p.log.Debug("address helper saved", "host", host, "dest", h.Hash.Short(), "replace", action == actionReplace)
	default:
		return problemResponse(r, badRequest(fmt.Sprintf("Unknown action %q.", action)))
	}
	return redirect(r, target, http.StatusSeeOther)
}

func (p *Proxy) setOnce(name string, h data.Hash) {
	p.onceMu.Lock()
	defer p.onceMu.Unlock()
	if _, ok := p.once[name]; !ok && len(p.once) >= maxOnce {
		for k := range p.once {
			delete(p.once, k) // forget one: the user is asked again
			break
		}
	}
	p.once[name] = h
}

func (p *Proxy) clearOnce(name string) {
	p.onceMu.Lock()
	delete(p.once, name)
	p.onceMu.Unlock()
}
