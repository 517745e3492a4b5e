// Command testnet brings a private network of real i2pd routers up inside
// a network namespace and leaves it running for people to try i2pbridge
// against (`make testnet-up` / `make testnet-down`):
//
//	testnet up [-debug] [-wait 3m]                start 5 routers, print how to reach things
//	testnet status                     print that again
//	testnet down                       stop everything, delete namespace and run dir
//
// Root is needed (network namespaces). The processes outlive `up`; their
// pids are in the run dir's state.json, which `down` reads. Set
// I2PB_TESTNET_DEBUG=1 for i2pd debug logs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"i2pbridge/deploy/testnet"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage: testnet up [-debug] [-wait 3m] [-ns NAME] [-dir DIR]
       testnet status [-ns NAME] [-dir DIR]
       testnet down [-ns NAME] [-dir DIR]`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("testnet "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	ns := fs.String("ns", testnet.DefaultNamespace, "network namespace name")
	dir := fs.String("dir", testnet.DefaultRunDir, "run dir (datadirs, logs, state.json)")
	debug := fs.Bool("debug", testnet.DebugFromEnv(), "i2pd loglevel=debug (also "+testnet.DebugEnv+"=1)")
	wait := fs.Duration("wait", testnet.DefaultEepsiteTimeout, "up: how long to wait for the eepsite to answer through the proxy")
	listen := fs.String("listen", testnet.EepsiteAddr, "eepsite: address to serve on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := testnet.Config{Namespace: *ns, RunDir: *dir, Debug: *debug, EepsiteTimeout: *wait, Logger: logger}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "up":
		return up(ctx, cfg, stdout, stderr)
	case "down":
		if err := testnet.Teardown(ctx, cfg); err != nil {
			fmt.Fprintln(stderr, "testnet down:", err)
			return 1
		}
		fmt.Fprintf(stdout, "testnet down: namespace %s deleted, %s removed\n", cfg.Namespace, cfg.RunDir)
		return 0
	case "status":
		n, err := testnet.Attach(cfg)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprint(stdout, n.Describe())
		return 0
	case "eepsite":
		// Internal: started by `up` inside the namespace, serves until
		// SIGTERM.
		return serveEepsite(ctx, *listen, logger)
	default:
		usage(stderr)
		return 2
	}
}

func up(ctx context.Context, cfg testnet.Config, stdout, stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "testnet up:", err)
		return 1
	}
	cfg.Detach = true
	cfg.EepsiteCommand = []string{self, "eepsite", "-listen", testnet.EepsiteAddr}
	start := time.Now()
	n, err := testnet.Up(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "testnet up:", err)
		return 1
	}
	fmt.Fprintf(stdout, "testnet up in %s (routers %s, first eepsite fetch %s)\n",
		time.Since(start).Round(100*time.Millisecond), n.BringUp.Round(100*time.Millisecond), n.FirstFetch.Round(100*time.Millisecond))
	fmt.Fprint(stdout, n.Describe())
	fmt.Fprintln(stdout, "stop it with: make testnet-down")
	return 0
}

func serveEepsite(ctx context.Context, addr string, logger *slog.Logger) int {
	srv := &http.Server{Addr: addr, Handler: testnet.EepsiteHandler(testnet.BigFile()), ReadHeaderTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	logger.Info("eepsite web server", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Error("eepsite web server", "err", err)
		return 1
	}
	return 0
}
