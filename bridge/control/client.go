package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"syscall"
)

// ErrNotRunning: nothing listens at the endpoint (no socket file, or a
// refused connection). Unlike the package's other errors its text has no
// "control:" prefix: it is the whole message `i2pbridge status` shows.
var ErrNotRunning = errors.New("no i2pbridge answers")

// maxStatusSize bounds the answer we read; a status with thousands of
// tunnels is still far below it.
const maxStatusSize = 16 << 20

// Fetch reads the Status served at endpoint (a config `control` value).
// Use ctx for a deadline. When nothing listens there the error wraps
// ErrNotRunning and reads "no i2pbridge answers at unix:/…/control.sock:
// is it running? (…)".
func Fetch(ctx context.Context, endpoint string) (Status, error) {
	network, address, err := ParseEndpoint(endpoint)
	if err != nil {
		return Status{}, err
	}
	var d net.Dialer
	client := &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, address)
				if err != nil {
					return nil, dialError{err}
				}
				return c, nil
			},
			DisableKeepAlives: true,
			Proxy:             nil, // never send our status request through HTTP_PROXY
		},
	}
	defer client.CloseIdleConnections()

	// The host part is ignored by DialContext; it only has to be valid.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://i2pbridge"+StatusPath, nil)
	if err != nil {
		return Status{}, fmt.Errorf("control: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		var de dialError
		if errors.As(err, &de) && (errors.Is(de.err, syscall.ECONNREFUSED) || errors.Is(de.err, fs.ErrNotExist)) {
			return Status{}, fmt.Errorf("%w at %s: is it running? (%w)", ErrNotRunning, endpoint, de.err)
		}
		return Status{}, fmt.Errorf("control: fetch status from %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusSize))
	if err != nil {
		return Status{}, fmt.Errorf("control: read status from %s: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("control: status from %s: %s: %s", endpoint, resp.Status, strings.TrimSpace(string(body)))
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		return Status{}, fmt.Errorf("control: %s did not answer with an i2pbridge status: %w", endpoint, err)
	}
	return st, nil
}

// dialError marks an error as coming from connecting, so Fetch can tell
// "nothing listens" from a failure later in the exchange.
type dialError struct{ err error }

func (e dialError) Error() string { return e.err.Error() }
func (e dialError) Unwrap() error { return e.err }
