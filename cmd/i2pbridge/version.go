package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

func versionCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("version", "", "Print the i2pbridge version and the Go toolchain it was built with.", stderr)
	if code, ok := flags.parse(args, stdout); !ok {
		return code
	}
	fmt.Fprintf(stdout, "i2pbridge %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
