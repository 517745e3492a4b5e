package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"i2pbridge/router/data"
)

func keygenCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("keygen", "-o FILE [-f]",
		"Create a new destination (Ed25519 signing key, X25519 encryption key) and write its\n"+
			"private keys to FILE (mode 0600; the .dat format of i2pd and Java I2P). The last line\n"+
			"printed is the destination's address, xxxx.b32.i2p.", stderr)
	out := flags.String("o", "", "private key `FILE` to write")
	force := flags.Bool("f", false, "replace FILE if it exists (its old destination is lost)")
	if code, ok := flags.parse(args, stdout); !ok {
		return code
	}
	if code, ok := flags.requireFlag("o", *out); !ok {
		return code
	}
	b32, err := keygen(*out, *force)
	if err != nil {
		fmt.Fprintln(stderr, "i2pbridge keygen:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s\n%s\n", *out, b32)
	return 0
}

// errKeyFileExists: keygen without -f found a file at the output path.
// Replacing a key file silently would throw away a destination people may
// already know.
var errKeyFileExists = errors.New("exists; use -f to replace it (its destination will be lost)")

func keygen(path string, force bool) (string, error) {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return "", fmt.Errorf("%s %w", path, errKeyFileExists)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("check %s: %w", path, err)
		}
	}
	k, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generate keys: %w", err)
	}
	if err := data.WritePrivateKeyFile(path, k); err != nil {
		return "", fmt.Errorf("write keys: %w", err)
	}
	return k.Destination().B32(), nil
}
