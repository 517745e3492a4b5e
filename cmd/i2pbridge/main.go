// Command i2pbridge runs I2PTunnel-style tunnels on top of an I2P router
// (an external one over SAM, or the bundled one), as defined in a YAML file.
//
// This package is wiring only: flags, signals, logging setup. Each
// subcommand is a function taking (ctx, args, stdout, stderr) and returning
// the exit code, so the tests run them in-process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(dispatch(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand as listed by the usage text.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run the tunnels (or the embedded router alone) of a config file", runCmd},
		{"check", "validate a config file", checkCmd},
		{"status", "show the tunnels and router of a running i2pbridge", statusCmd},
		{"keygen", "create a private key file for a destination", keygenCmd},
		{"ri", "print a RouterInfo file (router.info, routerInfo-*.dat) as text", riCmd},
		{"testnet", "start a private I2P network on this machine with a demo eepsite and the eepproxy", testnetCmd},
		{"version", "print the version", versionCmd},
	}
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("i2pbridge runs I2PTunnel-style tunnels on an I2P router.\n\nUsage:\n  i2pbridge <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'i2pbridge <command> -h' for the flags of a command.\n")
	io.WriteString(w, b.String())
}

// dispatch picks the subcommand; exit codes follow the flag package: 0 for
// asked-for help, 2 for a usage mistake.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "help":
		// "help run" is "run -h".
		if len(args) > 1 {
			for _, c := range commands() {
				if c.name == args[1] {
					return c.run(ctx, []string{"-h"}, stdout, stderr)
				}
			}
			fmt.Fprintf(stderr, "i2pbridge: unknown command %q\n\n", args[1])
			usage(stderr)
			return 2
		}
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "i2pbridge: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

// flagSet is a subcommand's flag.FlagSet plus its help text. Its -h text
// goes to stdout (help was asked for) while flag mistakes go to stderr.
type flagSet struct {
	*flag.FlagSet
	name, synopsis, about string
	stderr                io.Writer
}

// newFlagSet: synopsis is what follows "i2pbridge NAME" on the usage line,
// about one paragraph on what the command does.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet("i2pbridge "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	// parse prints the usage itself, to the right stream.
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, name: name, synopsis: synopsis, about: about, stderr: stderr}
}

func (f *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  i2pbridge %s %s\n\n%s\n\nFlags:\n", f.name, f.synopsis, f.about)
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(f.stderr)
}

// parse parses args; when it returns ok == false the command must return
// code at once (help was printed, or a usage mistake was reported).
func (f *flagSet) parse(args []string, stdout io.Writer) (code int, ok bool) {
	err := f.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.printUsage(stdout)
		return 0, false
	case err != nil:
		// The flag package has already printed what was wrong.
		fmt.Fprintln(f.stderr)
		f.printUsage(f.stderr)
		return 2, false
	case f.NArg() > 0:
		fmt.Fprintf(f.stderr, "i2pbridge %s: unexpected argument %q\n\n", f.name, f.Arg(0))
		f.printUsage(f.stderr)
		return 2, false
	}
	return 0, true
}

// requireFlag reports a missing mandatory flag the way the flag package
// reports a bad one.
func (f *flagSet) requireFlag(name, value string) (code int, ok bool) {
	if value != "" {
		return 0, true
	}
	fmt.Fprintf(f.stderr, "i2pbridge %s: -%s is required\n\n", f.name, name)
	f.printUsage(f.stderr)
	return 2, false
}
