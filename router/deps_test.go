package router_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// The import rules of design.md, fenced: dependencies point one way, so the
// router core can be reused (and reasoned about) without the bridge, the
// proxies or the YAML schema, and the tunnel kinds stay testable against the
// seam alone.
var forbidden = []struct {
	from   string // package path prefix
	to     string // import path prefix it must not reach, directly or not
	reason string
}{
	{"i2pbridge/router", "i2pbridge/bridge", "the router core knows nothing of the bridge"},
	{"i2pbridge/router", "i2pbridge/proxy", "the router core knows nothing of the proxies"},
	{"i2pbridge/router", "i2pbridge/config", "the router core knows nothing of YAML"},
	{"i2pbridge/config", "i2pbridge/bridge", "the schema is data; the bridge consumes it"},
	{"i2pbridge/config", "i2pbridge/proxy", "the schema is data; the proxies consume it"},
	{"i2pbridge/proxy", "i2pbridge/bridge/samnet", "proxies see only the i2pnet seam, not a backend"},
	{"i2pbridge/bridge/i2pnet", "i2pbridge/bridge/samnet", "the seam must not depend on a backend"},
	{"i2pbridge/bridge/tcptunnel", "i2pbridge/bridge/samnet", "tunnel kinds see only the i2pnet seam"},
}

// allowedExternal lists the only modules outside the standard library that
// the program itself may use (tests aside); adding one is a decision that
// belongs in a commit message.
var allowedExternal = []string{
	"i2pbridge/",
	"golang.org/x/crypto/",
	"golang.org/x/net/",
	"golang.org/x/sys/",
	"golang.org/x/text/",
	"gopkg.in/yaml.v3",
	"github.com/flynn/noise",
	"github.com/elazarl/goproxy",
	"github.com/ergochat/irc-go/",
	"filippo.io/edwards25519",
}

type pkg struct {
	ImportPath string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "i2pbridge/...").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 2 {
		t.Fatalf("go list found %d packages; expected the whole module", len(pkgs))
	}
	return pkgs
}

func hasPrefix(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/") || (strings.HasSuffix(prefix, "/") && strings.HasPrefix(path, prefix))
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		for _, rule := range forbidden {
			if !hasPrefix(p.ImportPath, rule.from) {
				continue
			}
			for _, d := range p.Deps {
				if hasPrefix(d, rule.to) {
					t.Errorf("%s depends on %s: %s", p.ImportPath, d, rule.reason)
				}
			}
		}
	}
}

func TestOnlyChosenModules(t *testing.T) {
	std := map[string]bool{}
	out, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	for _, s := range strings.Fields(string(out)) {
		std[s] = true
	}
	for _, p := range listPackages(t) {
	deps:
		for _, d := range p.Deps {
			if std[d] || strings.HasPrefix(d, "vendor/") || strings.HasPrefix(d, "internal/") {
				continue
			}
			for _, a := range allowedExternal {
				if hasPrefix(d, a) || strings.HasPrefix(d, a) {
					continue deps
				}
			}
			t.Errorf("%s depends on %s, which is not a chosen dependency (add it deliberately: list it in allowedExternal and say why in the commit)", p.ImportPath, d)
		}
	}
}
