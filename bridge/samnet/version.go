package samnet

import (
	"fmt"
	"strconv"
	"strings"
)

// version is a SAM protocol version, "3.1" = {3, 1}.
type version struct{ major, minor int }

var (
	v30 = version{3, 0}
	v31 = version{3, 1}
	v32 = version{3, 2}
	v33 = version{3, 3}
)

// parseVersion reads "3.1", or "3" (= 3.0, allowed since SAM 3.1).
func parseVersion(s string) (version, error) {
	maj, min, hasMinor := strings.Cut(s, ".")
	a, err := strconv.Atoi(maj)
	if err != nil || a < 0 {
		return version{}, fmt.Errorf("%w: bad version %q", ErrProtocol, s)
	}
	b := 0
	if hasMinor {
		if b, err = strconv.Atoi(min); err != nil || b < 0 {
			return version{}, fmt.Errorf("%w: bad version %q", ErrProtocol, s)
		}
	}
	return version{a, b}, nil
}

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

func (v version) less(o version) bool {
	return v.major < o.major || (v.major == o.major && v.minor < o.minor)
}

// Features by version (samv3.html "Version 3.2 Changes"): I2CP ports on
// STREAM CONNECT and on accepted streams, PING/PONG, quoted values and
// concurrent STREAM ACCEPTs. i2pd 2.45 speaks only 3.0/3.1, answers an
// unknown command (PING) by closing the socket, and with it the session,
// and never unquotes values, so none of these may be used below 3.2.
func (v version) hasPorts() bool   { return !v.less(v32) }
func (v version) hasPing() bool    { return !v.less(v32) }
func (v version) hasQuoting() bool { return !v.less(v32) }

// hasConcurrentAccept: several pending STREAM ACCEPTs per session. Below
// 3.2 only one may be pending: i2pd 2.45 registers each ACCEPT with the
// destination asynchronously, so ACCEPTs that arrive together are all
// registered, one socket is registered twice and later receives a second
// stream in the middle of the first (seen here: the peer line of one
// stream arriving inside another, the first stream's dialer timing out).
// i2pd fixed this in 2.50 with an accept queue.
func (v version) hasConcurrentAccept() bool { return !v.less(v32) }
