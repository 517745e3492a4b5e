// Package interop holds the interop suite (tests only): the i2pbridge
// binary driven against a private network of real i2pd 2.45.1 routers that
// deploy/testnet brings up in a network namespace.
//
// TestMain builds ./cmd/i2pbridge once and brings one network up for all
// scenarios (namespace i2pbt-interop, run dir /tmp/i2pbridge-interop, so a
// developer's `make testnet-up` network is left alone). Each i2pbridge runs
// as `ip netns exec NS i2pbridge run -c FILE` with a YAML written by the
// test; the test process itself reaches the namespace's 127.0.0.1 by
// creating its sockets there (testnet.Namespace.Listen/DialContext).
//
// Needs root, iproute2 and i2pd (apt-get install -y i2pd iproute2). With
// CI=true a missing prerequisite fails the suite; elsewhere it is skipped.
// I2PB_TESTNET_DEBUG=1 runs i2pd at loglevel debug, I2PB_TESTNET_KEEP=1
// keeps /tmp/i2pbridge-interop (all logs) after the run; i2pd and
// i2pbridge log tails are printed when a scenario fails.
// I2PB_INTEROP_NAME=x uses namespace i2pbt-x and run dir
// /tmp/i2pbridge-x instead, so two developers' runs do not wait for each
// other.
package interop
