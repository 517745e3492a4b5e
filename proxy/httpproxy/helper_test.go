package httpproxy

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"i2pbridge/bridge/i2pnet/i2pnettest"
	"i2pbridge/router/data"
)

// post sends a helper form through the proxy.
func (e *env) post(form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp, err := e.client().PostForm("http://proxy.i2p/addresshelper", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, string(b)
}

// localBook reads the proxy's local book from disk.
func (e *env) localBook() string {
	b, err := os.ReadFile(filepath.Join(e.dir, "local.hosts.txt"))
	if err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	return string(b)
}

func TestSplitHelper(t *testing.T) {
	tests := []struct {
		raw, value, rest string
		found            bool
	}{
		{"", "", "", false},
		{"a=1&b=2", "", "a=1&b=2", false},
		{"i2paddresshelper=abc", "abc", "", true},
		{"a=1&i2paddresshelper=ab%3D%3D&b=2", "ab==", "a=1&b=2", true},
		{"i2paddresshelper=first&i2paddresshelper=second&x", "first", "x", true},
		{"a=%20x&i2paddress%68elper=v", "v", "a=%20x", true}, // the key is decoded before comparing
		{"i2paddresshelperx=v", "", "i2paddresshelperx=v", false},
	}
	for _, tt := range tests {
		value, rest, found, err := splitHelper(tt.raw)
		if err != nil || value != tt.value || rest != tt.rest || found != tt.found {
			t.Errorf("splitHelper(%q) = %q, %q, %v, %v; want %q, %q, %v", tt.raw, value, rest, found, err, tt.value, tt.rest, tt.found)
		}
	}
}

// TestHelperSaveNewName: a helper for an unknown name shows a
// confirmation page; saving puts it in the local book and redirects to
// the URL without the helper, which then reaches the site.
func TestHelperSaveNewName(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	e := newEnv(t, n)

	resp, page := e.get("http://newsite.i2p/path?a=1&i2paddresshelper=" + url.QueryEscape(site.dest.Base64()) + "&b=2")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Confirm address helper") || !strings.Contains(page, site.b32()) {
		t.Fatalf("status %d, page:\n%s", resp.StatusCode, page)
	}
	if len(site.requests()) != 0 {
		t.Fatal("the site was contacted before the user confirmed")
	}
	forms := formFields(t, page)
	save, ok := forms[actionSave]
	if !ok || forms[actionOnce] == nil {
		t.Fatalf("forms: %v", forms)
	}
	if got := save.Get("url"); got != "http://newsite.i2p/path?a=1&b=2" {
		t.Errorf("clean URL %q", got)
	}

	resp, _ = e.post(save)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://newsite.i2p/path?a=1&b=2" {
		t.Fatalf("save answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if book := e.localBook(); !strings.Contains(book, "newsite.i2p="+site.dest.Base64()) {
		t.Errorf("local book:\n%s", book)
	}
	resp, body := e.get("http://newsite.i2p/path?a=1&b=2")
	if resp.StatusCode != http.StatusOK || body != "hello from /path" {
		t.Fatalf("after saving: %d %q", resp.StatusCode, body)
	}
	// The helper for the saved name now matches: straight redirect.
	resp, _ = e.get("http://newsite.i2p/?i2paddresshelper=" + url.QueryEscape(site.dest.Base64()))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://newsite.i2p/" {
		t.Errorf("matching helper: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestHelperContinueOnce: "continue without saving" works until the
// proxy goes away and writes nothing.
func TestHelperContinueOnce(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	e := newEnv(t, n)

	_, page := e.get("http://oncesite.i2p/?i2paddresshelper=" + site.b32()) // a b32 helper
	once := formFields(t, page)[actionOnce]
	if once == nil {
		t.Fatalf("no once form:\n%s", page)
	}
	resp, _ := e.post(once)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "http://oncesite.i2p/" {
		t.Fatalf("once answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := e.get("http://oncesite.i2p/again")
	if resp.StatusCode != http.StatusOK || body != "hello from /again" {
		t.Fatalf("after once: %d %q", resp.StatusCode, body)
	}
	if book := e.localBook(); strings.Contains(book, "oncesite.i2p") {
		t.Errorf("continue-once saved the name:\n%s", book)
	}
}

// TestHelperSaveB32: a b32 helper is saved with the full destination the
// network returns for it.
func TestHelperSaveB32(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	e := newEnv(t, n)
	_, page := e.get("http://b32helper.i2p/?i2paddresshelper=" + site.b32())
	resp, body := e.post(formFields(t, page)[actionSave])
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	if book := e.localBook(); !strings.Contains(book, "b32helper.i2p="+site.dest.Base64()) {
		t.Errorf("local book:\n%s", book)
	}
}

// TestHelperConflict: a helper for a name the book maps elsewhere never
// changes anything by itself; the page shows both, and only an explicit
// replace changes the book.
func TestHelperConflict(t *testing.T) {
	n := i2pnettest.New()
	real := newEepsite(t, n, nil)
	impostor := newEepsite(t, n, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("impostor"))
	}))
	e := newEnv(t, n, withBook(map[string]data.Destination{"bank.i2p": real.dest}))

	resp, page := e.get("http://bank.i2p/login?i2paddresshelper=" + url.QueryEscape(impostor.dest.Base64()))
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("status %d:\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{real.b32(), impostor.b32(), "hosts.txt", `href="http://bank.i2p/login"`} {
		if !strings.Contains(page, want) {
			t.Errorf("conflict page lacks %q:\n%s", want, page)
		}
	}
	forms := formFields(t, page)
	if forms[actionSave] != nil || forms[actionReplace] == nil || forms[actionOnce] == nil {
		t.Fatalf("forms: %v", forms)
	}
	// Nothing changed: the name still leads to the real site.
	if _, body := e.get("http://bank.i2p/"); body != "hello from /" {
		t.Fatalf("after the conflict page the name leads to %q", body)
	}
	if len(impostor.requests()) != 0 {
		t.Fatal("the impostor was contacted")
	}

	resp, _ = e.post(forms[actionReplace])
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("replace: %d", resp.StatusCode)
	}
	if _, body := e.get("http://bank.i2p/"); body != "impostor" {
		t.Errorf("after replace the name leads to %q", body)
	}
	if book := e.localBook(); !strings.Contains(book, "bank.i2p="+impostor.dest.Base64()) {
		t.Errorf("local book:\n%s", book)
	}
}

// TestHelperConflictWithRouterBook: the router's own address book counts
// too: a helper that contradicts it is a conflict.
func TestHelperConflictWithRouterBook(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	n.AddHost("known.i2p", site.dest)
	e := newEnv(t, n)
	resp, page := e.get("http://known.i2p/?i2paddresshelper=" + url.QueryEscape(newDest(t).Base64()))
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "router address book") {
		t.Fatalf("status %d:\n%s", resp.StatusCode, page)
	}
}

// TestHelperFormsCannotBeForged: a post without this proxy's token, or
// with a token made for other fields, changes nothing.
func TestHelperFormsCannotBeForged(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	victim := newEepsite(t, n, nil)
	e := newEnv(t, n, withBook(map[string]data.Destination{"victim.i2p": victim.dest}))
	_, page := e.get("http://evil.i2p/?i2paddresshelper=" + url.QueryEscape(site.dest.Base64()))
	good := formFields(t, page)[actionSave]

	tamper := func(key, value string) url.Values {
		v := url.Values{}
		for k, vs := range good {
			v[k] = append([]string(nil), vs...)
		}
		v.Set(key, value)
		return v
	}
	otherProxy, err := New(Config{Session: e.cfg.Session})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		form url.Values
	}{
		{"no token", tamper("token", "")},
		{"random token", tamper("token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
		{"token of another proxy", tamper("token", otherProxy.helperToken(actionSave, "evil.i2p", good.Get("helper"), good.Get("url")))},
		{"other name", tamper("host", "victim.i2p")},
		{"other destination", tamper("helper", victim.dest.Base64())},
		{"other action", tamper("action", actionReplace)},
		{"other URL", tamper("url", "http://evil.i2p/elsewhere")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := e.post(tt.form)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
		})
	}
	if book := e.localBook(); book != "" {
		t.Errorf("forged posts changed the local book:\n%s", book)
	}
	if resp, _ := e.get("http://proxy.i2p/addresshelper"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET on the form target: %d, want 405", resp.StatusCode)
	}
	// The genuine form still works.
	if resp, _ := e.post(good); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("genuine form: %d", resp.StatusCode)
	}
}

// TestHelperBadValues: helpers that are not destinations, and helpers on
// hosts they cannot apply to.
func TestHelperBadValues(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, url string
		status    int
	}{
		{"host name as helper", "http://a.i2p/?i2paddresshelper=b.i2p", http.StatusBadRequest},
		{"garbage", "http://a.i2p/?i2paddresshelper=not-a-destination", http.StatusBadRequest},
		{"empty", "http://a.i2p/?i2paddresshelper=", http.StatusBadRequest},
		{"bad escape", "http://a.i2p/?i2paddresshelper=%zz", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.get(tt.url)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d:\n%s", resp.StatusCode, tt.status, body)
			}
		})
	}
}

// TestHelperWithoutLocalBook: with no local book only "continue" is
// offered.
func TestHelperWithoutLocalBook(t *testing.T) {
	n := i2pnettest.New()
	site := newEepsite(t, n, nil)
	e := newEnv(t, n, func(c *Config, e *env) { c.LocalBook = false })
	_, page := e.get("http://nolocal.i2p/?i2paddresshelper=" + site.b32())
	forms := formFields(t, page)
	if forms[actionOnce] == nil || forms[actionSave] != nil {
		t.Fatalf("forms %v", forms)
	}
	if resp, _ := e.post(url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("empty post: %d", resp.StatusCode)
	}
}
