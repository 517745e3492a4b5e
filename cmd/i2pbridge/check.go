package main

import (
	"context"
	"fmt"
	"io"

	"i2pbridge/config"
)

func checkCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("check", "-c FILE",
		"Validate a config file without starting anything. Prints \"FILE: ok (N tunnels)\" and any\n"+
			"warnings, or every problem found (exit status 1).", stderr)
	path := flags.String("c", "", "config `FILE` to check")
	if code, ok := flags.parse(args, stdout); !ok {
		return code
	}
	if code, ok := flags.requireFlag("c", *path); !ok {
		return code
	}
	f, ok := loadConfig(*path, stderr, true)
	if !ok {
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%s)\n", *path, plural(len(f.Tunnels), "tunnel"))
	return 0
}

// loadConfig loads path and prints, one per line to w, every error on
// failure, and its warnings if warn is set.
func loadConfig(path string, w io.Writer, warn bool) (*config.File, bool) {
	f, err := config.Load(path)
	if err != nil {
		for _, e := range splitErrors(err) {
			fmt.Fprintln(w, e)
		}
		return nil, false
	}
	if warn {
		for _, msg := range f.Warnings() {
			fmt.Fprintln(w, "warning:", msg)
		}
	}
	return f, true
}

// splitErrors undoes errors.Join so each problem can be printed or logged
// on its own.
func splitErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []error{err}
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
