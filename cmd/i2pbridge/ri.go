package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"i2pbridge/router"
)

const riAbout = `Print a RouterInfo file as text: router hash, identity key types, published time, caps,
netId, version, options, every address with its options, and whether the signature is
valid. FILE is a router.info or a netDb routerInfo-*.dat, written by i2pbridge, i2pd or
Java I2P. Exit status 1 if FILE cannot be read, is not a RouterInfo, or its signature
does not verify.`

func riCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("ri", "FILE", riAbout, stderr)
	// FILE is positional, so flagSet.parse (which refuses arguments) does
	// not fit; the help and mistake handling are the same.
	switch err := flags.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		flags.printUsage(stdout)
		return 0
	case err != nil:
		fmt.Fprintln(stderr)
		flags.printUsage(stderr)
		return 2
	case flags.NArg() != 1:
		if flags.NArg() == 0 {
			fmt.Fprintf(stderr, "i2pbridge ri: FILE is required\n\n")
		} else {
			fmt.Fprintf(stderr, "i2pbridge ri: unexpected argument %q\n\n", flags.Arg(1))
		}
		flags.printUsage(stderr)
		return 2
	}
	path := flags.Arg(0)
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "i2pbridge ri: %v\n", err)
		return 1
	}
	if err := router.PrintRouterInfo(stdout, b); err != nil {
		// A bad signature was printed with the rest; say it again on
		// stderr so a script sees why the exit status is 1.
		fmt.Fprintf(stderr, "i2pbridge ri: %s: %v\n", path, err)
		return 1
	}
	return 0
}
