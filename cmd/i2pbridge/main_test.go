package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
)

// cli runs the command line in-process, like main but without exiting.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout bool // usage on stdout (asked for) or stderr (a mistake)
		wantErr    string
	}{
		{"no args", nil, 2, false, ""},
		{"-h", []string{"-h"}, 0, true, ""},
		{"--help", []string{"--help"}, 0, true, ""},
		{"help", []string{"help"}, 0, true, ""},
		{"unknown command", []string{"frobnicate"}, 2, false, `i2pbridge: unknown command "frobnicate"`},
		{"help for unknown command", []string{"help", "frobnicate"}, 2, false, `i2pbridge: unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
			usageOut, other := stderr, stdout
			if tt.wantStdout {
				usageOut, other = stdout, stderr
			}
			if other != "" {
				t.Errorf("unexpected output on the other stream: %q", other)
			}
			if !strings.Contains(usageOut, "Usage:\n  i2pbridge <command> [flags]") {
				t.Errorf("usage missing from output:\n%s", usageOut)
			}
			for _, c := range []string{"run", "check", "status", "keygen", "ri", "version"} {
				if !strings.Contains(usageOut, "\n  "+c+" ") {
					t.Errorf("usage does not list %q:\n%s", c, usageOut)
				}
			}
			if tt.wantErr != "" && !strings.HasPrefix(usageOut, tt.wantErr+"\n") {
				t.Errorf("output does not start with %q:\n%s", tt.wantErr, usageOut)
			}
		})
	}
}

func TestSubcommandHelp(t *testing.T) {
	tests := []struct {
		args     []string
		synopsis string
		flags    []string
	}{
		{[]string{"run", "-h"}, "i2pbridge run -c FILE [-log-level LEVEL] [-log-format FORMAT]", []string{"-c FILE", "-log-level LEVEL", "-log-format FORMAT", "SIGHUP"}},
		{[]string{"help", "run"}, "i2pbridge run -c FILE", []string{"-c FILE"}},
		{[]string{"check", "-h"}, "i2pbridge check -c FILE", []string{"-c FILE"}},
		{[]string{"status", "-help"}, "i2pbridge status -c FILE [-json]", []string{"-c FILE", "-json"}},
		{[]string{"keygen", "-h"}, "i2pbridge keygen -o FILE [-f]", []string{"-o FILE", "-f"}},
		{[]string{"ri", "-h"}, "i2pbridge ri FILE", []string{"RouterInfo", "signature"}},
		{[]string{"help", "ri"}, "i2pbridge ri FILE", nil},
		{[]string{"version", "-h"}, "i2pbridge version", nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := cli(t, tt.args...)
			if code != 0 || stderr != "" {
				t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr)
			}
			if !strings.HasPrefix(stdout, "Usage:\n  "+tt.synopsis) {
				t.Errorf("help does not start with the synopsis %q:\n%s", tt.synopsis, stdout)
			}
			for _, f := range tt.flags {
				if !strings.Contains(stdout, f) {
					t.Errorf("help does not mention %q:\n%s", f, stdout)
				}
			}
		})
	}
}

func TestUsageMistakes(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"check"}, "i2pbridge check: -c is required"},
		{[]string{"run"}, "i2pbridge run: -c is required"},
		{[]string{"status"}, "i2pbridge status: -c is required"},
		{[]string{"keygen"}, "i2pbridge keygen: -o is required"},
		{[]string{"check", "-c", "a.yaml", "extra"}, `i2pbridge check: unexpected argument "extra"`},
		{[]string{"version", "now"}, `i2pbridge version: unexpected argument "now"`},
		{[]string{"check", "-x"}, "flag provided but not defined: -x"},
		{[]string{"run", "-c", "a.yaml", "-log-level", "loud"}, `i2pbridge run: -log-level "loud": want debug, info, warn or error`},
		{[]string{"run", "-c", "a.yaml", "-log-format", "xml"}, `i2pbridge run: -log-format "xml": want text or json`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := cli(t, tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if !strings.HasPrefix(stderr, tt.wantErr+"\n") {
				t.Errorf("stderr does not start with %q:\n%s", tt.wantErr, stderr)
			}
			if !strings.Contains(stderr, "Usage:\n  i2pbridge "+tt.args[0]) {
				t.Errorf("stderr lacks the command's usage:\n%s", stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, v := range []string{"dev", "v1.2.3"} {
		old := version
		version = v
		code, stdout, stderr := cli(t, "version")
		version = old
		want := fmt.Sprintf("i2pbridge %s (%s %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		if code != 0 || stdout != want || stderr != "" {
			t.Errorf("version with %q: exit %d, stdout %q, stderr %q; want 0, %q", v, code, stdout, stderr, want)
		}
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		level, format string
		wantDebug     bool
		want          string // in the output of logger.Info("hello", "k", "v")
	}{
		{"info", "text", false, "level=INFO msg=hello k=v\n"},
		{"debug", "text", true, "level=INFO msg=hello k=v\n"},
		{"warn", "text", false, ""},
		{"error", "json", false, ""},
		{"info", "json", false, `"level":"INFO","msg":"hello","k":"v"}` + "\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		logger, err := newLogger(&b, tt.level, tt.format)
		if err != nil {
			t.Fatalf("newLogger(%q, %q): %v", tt.level, tt.format, err)
		}
		logger.Info("hello", "k", "v")
		if got := b.String(); tt.want == "" && got != "" || !strings.HasSuffix(got, tt.want) {
			t.Errorf("%s/%s: logged %q, want suffix %q", tt.level, tt.format, got, tt.want)
		}
		if got := logger.Enabled(context.Background(), slog.LevelDebug); got != tt.wantDebug {
			t.Errorf("%s/%s: debug enabled = %v", tt.level, tt.format, got)
		}
	}
}
