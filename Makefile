# i2pbridge — one command each for people and CI. `make test` is THE test command.
SHELL   := /bin/bash
GO      ?= go
BIN     ?= bin/i2pbridge
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
CONFIG  ?= examples/quickstart.yaml
# Unit and in-process tests: everything except the interop suite, which needs root.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v /deploy/interop)

.PHONY: all build test test-unit test-interop soak demo check-fmt vet bench bench-interop fuzz run testnet-up testnet-down testnet-status clean

all: build

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/i2pbridge

# Formatting, vet, unit + in-process tests (race detector), then the interop
# suite against real i2pd routers in a network namespace (needs root, i2pd,
# iproute2; with CI=true a missing prerequisite fails the run).
test: check-fmt vet test-unit test-interop

check-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The router packages' tests against real i2pd (TestInterop*) run in
# test-interop, one package at a time and without the race detector: beside
# every other package's -race tests on two cores, 30-second build timeouts
# were hit that never occur otherwise.
test-unit:
	$(GO) test -race -count=1 -timeout 10m -skip '^TestInterop' $(UNIT_PKGS)

test-interop:
	$(GO) test -count=1 -p 1 -timeout 10m -run '^TestInterop' ./router/...
	$(GO) test -count=1 -timeout 20m -v ./deploy/interop/

# The 10-minute runs against real i2pd that make test shortens: our tunnel
# pools (1, 2, 3 hops) through i2pd hops, past the first replacement at 9.5
# min; then the interop suite with the bundled router kept up 10 min while
# every i2pd log is watched for NTCP2/netDb problems. Needs root, as the
# interop tests do. About 25 minutes.
soak:
	I2PB_TUNNEL_SOAK=11m $(GO) test -count=1 -timeout 20m -v -run TestInteropTunnelsWithI2pd ./router/
	I2PB_ROUTER_SOAK=10m $(GO) test -count=1 -timeout 25m -v ./deploy/interop/

# A private I2P network of bundled routers on 127.0.0.1 with a demo eepsite
# and the eepproxy on 127.0.0.1:4444; prints the curl line; Ctrl-C stops it.
demo:
	$(GO) run ./cmd/i2pbridge testnet

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 $(UNIT_PKGS)

# bench-interop: two bundled routers join the five-router i2pd network
# (root, network namespace) and one run compares eepsite throughput and
# small-GET latency for i2pbridge↔i2pbridge, i2pbridge↔i2pd and i2pd↔i2pd,
# then prints every router's resident memory. A benchmark, not a test.
bench-interop:
	$(GO) test -run '^$$' -bench '^BenchmarkInterop$$' -benchtime 1x -count=1 -timeout 20m ./deploy/interop/

fuzz:
	@for p in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$p 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$p $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20000x $$p || exit 1; \
	  done; \
	done

# Runs the quickstart on the bundled router, which joins the public network
# through the reseed servers (examples/quickstart.yaml says how to use an
# external router's SAM bridge instead).
run: build
	$(BIN) run -c $(CONFIG)

testnet-up:
	$(GO) run ./deploy/testnet/cmd/testnet up

testnet-down:
	$(GO) run ./deploy/testnet/cmd/testnet down

testnet-status:
	$(GO) run ./deploy/testnet/cmd/testnet status

clean:
	rm -rf bin
