package outproxy

import (
	"errors"
	"net/netip"
	"testing"
)

func TestGuardCheck(t *testing.T) {
	allowTest := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")}}
	tests := []struct {
		name  string
		guard Guard
		ip    string
		ok    bool
	}{
		{"public v4", Guard{}, "93.184.216.34", true},
		{"public v6", Guard{}, "2606:2800:220:1:248:1893:25c8:1946", true},
		{"loopback", Guard{}, "127.0.0.1", false},
		{"loopback other", Guard{}, "127.8.9.10", false},
		{"v6 loopback", Guard{}, "::1", false},
		{"mapped loopback", Guard{}, "::ffff:127.0.0.1", false},
		{"unspecified", Guard{}, "0.0.0.0", false},
		{"private 10", Guard{}, "10.1.2.3", false},
		{"private 172", Guard{}, "172.20.0.1", false},
		{"not private 172.32", Guard{}, "172.32.0.1", true},
		{"private 192.168", Guard{}, "192.168.0.10", false},
		{"CGNAT", Guard{}, "100.64.1.1", false},
		{"link-local", Guard{}, "169.254.169.254", false},
		{"v6 link-local", Guard{}, "fe80::1", false},
		{"v6 link-local zone", Guard{}, "fe80::1%eth0", false},
		{"unique local", Guard{}, "fd00::1", false},
		{"benchmarking (test network)", Guard{}, "198.18.0.5", false},
		{"documentation", Guard{}, "192.0.2.1", false},
		{"multicast", Guard{}, "224.0.0.1", false},
		{"broadcast", Guard{}, "255.255.255.255", false},
		{"NAT64 embedding loopback", Guard{}, "64:ff9b::7f00:1", false},
		{"6to4", Guard{}, "2002:7f00:1::", false},
		{"allow-list hit", allowTest, "198.18.0.5", true},
		{"allow-list miss", allowTest, "10.0.0.1", false},
		{"allow private", Guard{AllowPrivate: true}, "127.0.0.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.guard.Check(netip.MustParseAddr(tt.ip))
			if (err == nil) != tt.ok {
				t.Errorf("Check(%s) = %v, want ok=%v", tt.ip, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Errorf("error %v does not match ErrForbidden", err)
			}
		})
	}
	if err := (Guard{}).Check(netip.Addr{}); !errors.Is(err, ErrForbidden) {
		t.Errorf("zero Addr: %v", err)
	}
}

func TestAllowedPort(t *testing.T) {
	for port, want := range map[string]bool{
		"80": true, "443": true, "1024": true, "8080": true, "65535": true,
		"22": false, "25": false, "0": false, "65536": false, "080": false, "x": false, "": false, "-1": false,
	} {
		if got := allowedPort(port); got != want {
			t.Errorf("allowedPort(%q) = %v, want %v", port, got, want)
		}
	}
}
