package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTestnetServesTheDemo runs `i2pbridge testnet -routers 4` for real on
// 127.0.0.1: four bundled routers, the demo eepsite and the eepproxy. The
// command must print its banner, the printed curl line must work (the page
// comes through the proxy with the visitor's b32 added by the http-server
// tunnel), and it must stop cleanly when its context ends.
func TestTestnetServesTheDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four routers on loopback; not in -short mode (make test runs it, CI too)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := ln.Addr().String()
	ln.Close()
	port := freePorts(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- testnet(ctx, []string{"-routers", "4", "-proxy", proxy, "-port", strconv.Itoa(port), "-dir", shortDir(t)}, &stdout, &stderr)
	}()
	curl := regexp.MustCompile(`curl -x (\S+) (http://[a-z2-7]{52}\.b32\.i2p/)`)
	var m []string
	deadline := time.Now().Add(4 * time.Minute)
	for m == nil {
		select {
		case code := <-done:
			t.Fatalf("testnet exited %d before it was ready\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner within 4 minutes\nstderr:\n%s", stderr.String())
		}
		m = curl.FindStringSubmatch(stdout.String())
	}
	t.Logf("banner:\n%s", stdout.String())
	if m[1] != proxy {
		t.Errorf("banner names proxy %s, want %s", m[1], proxy)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: proxy})}, Timeout: time.Minute}
	resp, err := client.Get(m[2])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), demoMarker) || !strings.Contains(string(body), "X-I2p-Destb32: ") {
		t.Fatalf("GET %s through %s: status %d:\n%s", m[2], proxy, resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("testnet exited %d after its context ended\nstderr:\n%s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("testnet did not stop within a minute of its context ending")
	}
}

// freePorts finds n consecutive free TCP ports on 127.0.0.1 (the testnet
// takes a base port); another program may still take one meanwhile, but a
// random range checked first rarely collides.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := 30000 + rand.IntN(20000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range found")
	return 0
}
