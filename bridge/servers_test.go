package bridge

import (
	"crypto/rand"
	"i2pbridge/bridge/leaktest"
	"path/filepath"
	"testing"

	"i2pbridge/config"
	"i2pbridge/router/data"
)

// TestServerKindsRunAndReportRejections starts the http-server and IRC
// kinds through DefaultKinds and checks that a tcp-server's protection
// refusals reach Status.
func TestServerKindsRunAndReportRejections(t *testing.T) {
	leaktest.Check(t)
	fx := newFixture(t)
	other, err := data.GeneratePrivateKeys(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := fx.server()
	srv.Allow = []string{other.Destination().B32()} // everyone else is refused
	ircKeys := filepath.Join(fx.datadir, "ircd.dat")
	f := fx.file(srv, fx.client("cli", "127.0.0.1:0"),
		config.Tunnel{Name: "web", Type: "http-server", Target: fx.echo, Keys: filepath.Join(fx.datadir, "web.dat")},
		config.Tunnel{Name: "ircd", Type: "irc-server", Target: fx.echo, Keys: ircKeys},
		config.Tunnel{Name: "irc", Type: "irc-client", Listen: "127.0.0.1:0", Destination: fx.b32},
	)
	s := fx.start(t, f)
	for _, name := range []string{"web", "ircd", "irc"} {
		if st := statusOf(t, s, name); st.State != "running" {
			t.Errorf("%s: state %s (%s)", name, st.State, st.LastError)
		}
	}
	if got, _ := roundTrip(statusOf(t, s, "cli").Listen, []byte("hi")); len(got) != 0 {
		t.Fatalf("a caller outside the allow list got %q", got)
	}
	waitFor(t, "the refusal in Status", func() bool { return statusOf(t, s, "srv").Rejected["not_allowed"] == 1 })
	if r := statusOf(t, s, "cli").Rejected; r != nil {
		t.Errorf("client tunnel reports rejections %v", r)
	}
}
