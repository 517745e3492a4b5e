package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"i2pbridge/config"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives a round trip: marshal the loaded File back to YAML, parse it
// again, and get the same router, control and tunnels.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	for _, p := range examples {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"tunnels: []\n",
		"router: {backend: sam, sam: \"[::1]:7656\", datadir: /d}\ncontrol: localhost:7070\ntunnels: []\n",
		"tunnels:\n  - {name: a, type: tcp-client, listen: 1, destination: A.i2p:80, options: {x: y}, idle_timeout: 1m}\n",
		"tunnels:\n  - &t {name: a, type: tcp-server, target: 22, inbound: {length: 1, quantity: 2, variance: -1}}\n  - {<<: *t, name: b}\n",
		"tunnels:\n  - name: a\n    type: tcp-server\n    target: 22\n    options: &o {k: v}\n  - {name: b, type: tcp-server, target: 23, options: {<<: [*o, *o]}}\n",
		"tunnels: [1, [2], {name: x}]\n---\nx: 1\n",
		"tunnels:\n  - !!binary aGk=\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := config.Parse(b, "fuzz.yaml")
		if err != nil {
			if cfg != nil {
				t.Fatal("a File together with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := config.Parse(out, "fuzz.yaml")
		if err != nil {
			t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
		}
		if !cfg.RouterEqual(again) || cfg.Control != again.Control || len(cfg.Tunnels) != len(again.Tunnels) {
			t.Fatalf("round trip changed the file:\n%+v\n%+v", cfg, again)
		}
		for i := range cfg.Tunnels {
			if !cfg.Tunnels[i].Equal(again.Tunnels[i]) {
				t.Fatalf("round trip changed tunnels[%d]:\n%+v\n%+v", i, cfg.Tunnels[i], again.Tunnels[i])
			}
		}
	})
}
