package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, content string
		wantCode            int
		wantStdout          string   // exact; FILE stands for the path
		wantStderr          []string // line prefixes, in order, one per line; FILE as above
	}{
		{
			name: "one tunnel", file: "good.yaml",
			content:    "tunnels:\n  - name: web\n    type: tcp-server\n    target: 127.0.0.1:8080\n",
			wantStdout: "FILE: ok (1 tunnel)\n",
		},
		{
			name: "two tunnels", file: "two.yaml",
			content: `router:
  backend: sam
  sam: 127.0.0.1:7656
control: 127.0.0.1:7651
tunnels:
  - name: web
    type: tcp-server
    target: 127.0.0.1:8080
  - name: irc
    type: tcp-client
    listen: 6668
    destination: irc.postman.i2p
`,
			wantStdout: "FILE: ok (2 tunnels)\n",
		},
		{
			name: "warnings are printed, still ok", file: "empty.yaml",
			content:    "router: {backend: sam}\ntunnels: []\n",
			wantStdout: "FILE: ok (0 tunnels)\n",
			wantStderr: []string{"warning: FILE:2: tunnels: "},
		},
		{
			name: "every error, one per line", file: "bad.yaml",
			content: `router:
  backend: sam
tunnels:
  - name: web
    type: tcp-server
  - name: web
    type: tcp-client
    listen: 127.0.0.1:7000
    destination: example.i2p
    bogus: 1
`,
			wantCode: 1,
			wantStderr: []string{
				"FILE:4: tunnels[0].target: ",
				"FILE:6: tunnels[1].name: ",
				"FILE:10: tunnels[1].bogus: ",
			},
		},
		{
			name: "yaml syntax error", file: "syntax.yaml",
			content:    "tunnels:\n  - name: [web\n",
			wantCode:   1,
			wantStderr: []string{"FILE:"},
		},
		{
			name: "missing file", file: "missing.yaml",
			wantCode:   1,
			wantStderr: []string{"config: open FILE: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if tt.content != "" {
				writeFile(t, dir, tt.file, tt.content)
			}
			code, stdout, stderr := cli(t, "check", "-c", path)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
			if want := strings.ReplaceAll(tt.wantStdout, "FILE", path); stdout != want {
				t.Errorf("stdout = %q, want %q", stdout, want)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if stderr == "" {
				lines = nil
			}
			if len(lines) != len(tt.wantStderr) {
				t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(tt.wantStderr), stderr)
			}
			for i, prefix := range tt.wantStderr {
				if want := strings.ReplaceAll(prefix, "FILE", path); !strings.HasPrefix(lines[i], want) {
					t.Errorf("stderr line %d = %q, want prefix %q", i+1, lines[i], want)
				}
			}
		})
	}
}
