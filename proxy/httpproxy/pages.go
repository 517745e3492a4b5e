package httpproxy

import (
	"bytes"
	"html/template"
	"io"
	"net/http"
	"strconv"
)

// Pages are small, self-contained HTML (no scripts, no external
// resources), so they render in any browser and load nothing from
// anywhere. Every page carries headers that keep other sites from framing
// it (the helper pages hold buttons that change the address book) and from
// caching it.

// problem is an error page: what went wrong, for whom.
type problem struct {
	Status  int
	Title   string
	Message string
	Host    string     // the host the user asked for, if any
	Detail  string     // technical detail, if useful
	Jump    []jumpLink // unknown host: jump-service links
}

type jumpLink struct {
	URL string
}

var pageHead = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} - i2pbridge</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em;line-height:1.4}
code{word-break:break-all}form{display:inline-block;margin:.3em 1em .3em 0}
table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em;text-align:left}</style>
</head><body>
<h1>{{.Title}}</h1>
`

const pageFoot = `<hr><p><small>i2pbridge HTTP proxy</small></p>
</body></html>
`

var problemPage = template.Must(template.New("problem").Parse(pageHead + `{{if .Host}}<p><code>{{.Host}}</code></p>
{{end}}<p>{{.Message}}</p>
{{if .Detail}}<p><small>{{.Detail}}</small></p>
{{end}}{{if .Jump}}<p>These jump services may know the name. Each link asks that service for an address helper; nothing is saved until you confirm it here:</p>
<ul>
{{range .Jump}}<li><a href="{{.URL}}" rel="noreferrer">{{.URL}}</a></li>
{{end}}</ul>
{{end}}` + pageFoot))

// helperForm is one action button of a helper page; the hidden fields are
// what the action applies to, and Token binds them to this proxy (see
// helperToken).
type helperForm struct {
	Action, Label string
	Host, Helper  string
	URL, Token    string
}

type helperPage struct {
	Title    string
	Host     string
	NewB32   string // the destination the helper names
	Existing string // b32 the name resolves to now (conflict)
	Source   string // where Existing comes from (conflict)
	CleanURL string // the request without the helper
	Forms    []helperForm
}

var confirmPage = template.Must(template.New("confirm").Parse(pageHead + `<p>A link gave an address helper for <code>{{.Host}}</code>, which is not in your address book. The helper says this name belongs to:</p>
<p><code>{{.NewB32}}</code></p>
<p>Anyone can make such a link. Continue only if you trust where it came from.</p>
{{range .Forms}}<form method="post" action="http://proxy.i2p/addresshelper">
<input type="hidden" name="action" value="{{.Action}}">
<input type="hidden" name="host" value="{{.Host}}">
<input type="hidden" name="helper" value="{{.Helper}}">
<input type="hidden" name="url" value="{{.URL}}">
<input type="hidden" name="token" value="{{.Token}}">
<button type="submit">{{.Label}}</button>
</form>
{{end}}` + pageFoot))

var conflictPage = template.Must(template.New("conflict").Parse(pageHead + `<p><strong>Warning:</strong> a link gave an address helper for <code>{{.Host}}</code> that points to a different destination than your address book. Someone may be impersonating the site.</p>
<table>
<tr><th>Your address book ({{.Source}})</th><td><code>{{.Existing}}</code></td></tr>
<tr><th>The link</th><td><code>{{.NewB32}}</code></td></tr>
</table>
<p><a href="{{.CleanURL}}">Go to {{.Host}} as your address book knows it</a> (nothing changes).</p>
{{range .Forms}}<form method="post" action="http://proxy.i2p/addresshelper">
<input type="hidden" name="action" value="{{.Action}}">
<input type="hidden" name="host" value="{{.Host}}">
<input type="hidden" name="helper" value="{{.Helper}}">
<input type="hidden" name="url" value="{{.URL}}">
<input type="hidden" name="token" value="{{.Token}}">
<button type="submit">{{.Label}}</button>
</form>
{{end}}` + pageFoot))

// render executes t into an *http.Response with the page headers.
func render(req *http.Request, status int, t *template.Template, data any) *http.Response {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		// The templates are fixed and their data is plain strings:
		// this cannot fail except by a programming error.
		buf.Reset()
		buf.WriteString("internal error rendering page\n")
		status = http.StatusInternalServerError
	}
	return pageResponse(req, status, "text/html; charset=utf-8", buf.Bytes())
}

// pageResponse is a response of ours (not from a site) with body.
func pageResponse(req *http.Request, status int, contentType string, body []byte) *http.Response {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	setPageHeaders(h)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// redirect answers with a redirect to location: 302 for GET and HEAD,
// 307 otherwise, so a form's method and body are kept.
func redirect(req *http.Request, location string, status int) *http.Response {
	if status == 0 {
		status = http.StatusFound
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			status = http.StatusTemporaryRedirect
		}
	}
	resp := pageResponse(req, status, "text/plain; charset=utf-8", []byte("redirecting to "+location+"\n"))
	resp.Header.Set("Location", location)
	return resp
}

func setPageHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action http://proxy.i2p; frame-ancestors 'none'")
}

// problemResponse renders pr.
func problemResponse(req *http.Request, pr *problem) *http.Response {
	return render(req, pr.Status, problemPage, pr)
}

// writeResponse writes resp to w (for pages served outside goproxy: the
// CONNECT answers).
func writeResponse(w http.ResponseWriter, resp *http.Response) {
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
	resp.Body.Close()
}
