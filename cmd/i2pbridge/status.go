package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"i2pbridge/bridge/control"
)

// statusTimeout bounds the wait for a running i2pbridge to answer; the
// answer is built from memory, so a slow one means something is stuck.
const statusTimeout = 10 * time.Second

func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := newFlagSet("status", "-c FILE [-json]",
		"Show the tunnels of the i2pbridge running with config FILE, read from the control\n"+
			"endpoint the file names (`control:`). IN is bytes from I2P, OUT bytes to I2P.\n"+
			"With the embedded router, also its hash, caps, known routers and NTCP2 sessions.", stderr)
	path := flags.String("c", "", "config `FILE` of the running i2pbridge")
	asJSON := flags.Bool("json", false, "print the raw status document as JSON")
	if code, ok := flags.parse(args, stdout); !ok {
		return code
	}
	if code, ok := flags.requireFlag("c", *path); !ok {
		return code
	}
	// Only the control endpoint is needed; warnings are check's and run's
	// business.
	f, ok := loadConfig(*path, stderr, false)
	if !ok {
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	st, err := control.Fetch(ctx, f.Control)
	if err != nil {
		fmt.Fprintln(stderr, "i2pbridge status:", err)
		return 1
	}
	if *asJSON {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			fmt.Fprintln(stderr, "i2pbridge status:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", b)
		return 0
	}
	writeStatusTable(stdout, st)
	return 0
}

// writeStatusTable prints st for people: a header line, then one row per
// tunnel. Clients show where they listen, servers their b32 address (what
// one hands out).
func writeStatusTable(w io.Writer, st control.Status) {
	fmt.Fprintf(w, "i2pbridge %s, backend %s, up %s, %s\n", st.Version, st.Backend, st.Uptime, plural(len(st.Tunnels), "tunnel"))
	if r := st.Router; r != nil {
		writeRouterStatus(w, *r)
	}
	if len(st.Tunnels) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATE\tADDRESS/LISTEN\tCONNS\tIN\tOUT\tRESTARTS\tLAST-ERROR")
	for _, t := range st.Tunnels {
		where := t.Address
		if t.Listen != "" {
			where = t.Listen
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n",
			t.Name, t.Type, t.State, dash(where), t.Conns, humanBytes(t.BytesIn), humanBytes(t.BytesOut), t.Restarts, dash(t.LastError))
	}
	tw.Flush()
	// Server protection refusals, one line per tunnel that refused any:
	// "rejected web: denied=2 rate_minute=5".
	for _, t := range st.Tunnels {
		if len(t.Rejected) > 0 {
			var parts []string
			for _, r := range slices.Sorted(maps.Keys(t.Rejected)) {
				parts = append(parts, fmt.Sprintf("%s=%d", r, t.Rejected[r]))
			}
			fmt.Fprintf(w, "rejected %s: %s\n", t.Name, strings.Join(parts, " "))
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// humanBytes formats n in binary units with one decimal: 0 B, 1023 B,
// 1.0 KiB, 12.3 MiB.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	// Move up a unit before the value would print as "1024.0".
	v, exp := float64(n)/unit, 0
	for v >= unit-0.05 && exp < 5 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[exp])
}

// writeRouterStatus prints the embedded router in five lines: who it is,
// what it knows, whom it talks to, whose tunnels it carries, its own.
func writeRouterStatus(w io.Writer, r control.Router) {
	ntcp2 := r.NTCP2
	if ntcp2 == "" {
		ntcp2 = "not reachable (firewalled)"
	}
	fmt.Fprintf(w, "router %s, netid %d, caps %s, ntcp2 %s\n", r.Hash, r.NetID, r.Caps, ntcp2)
	published := "not yet"
	if !r.Published.IsZero() {
		published = time.Since(r.Published).Round(time.Second).String() + " ago"
	}
	fmt.Fprintf(w, "  netdb: %s (%s), %s; published %s\n",
		plural(r.Routers, "known router"), plural(r.Floodfills, "floodfill"), plural(r.LeaseSets, "leaseset"), published)
	skew := ""
	if r.ClockSkew > 0 {
		skew = fmt.Sprintf("; %s refused for clock skew (check this machine's clock if it grows)", plural(int(r.ClockSkew), "handshake"))
	}
	fmt.Fprintf(w, "  ntcp2: %s (%d inbound, %d outbound)%s\n", plural(r.Sessions, "session"), r.Inbound, r.Outbound, skew)
	fmt.Fprintf(w, "  transit: %s; requests %d accepted, %d refused\n", plural(r.Transit, "tunnel"), r.TransitAccepted, r.TransitRefused)
	e := r.Exploratory
	fmt.Fprintf(w, "  exploratory tunnels: %d inbound, %d outbound; builds %d ok, %d failed; tests %d passed, %d failed\n",
		e.Inbound, e.Outbound, e.BuildsOK, e.BuildsFailed, e.TestsPassed, e.TestsFailed)
	for _, c := range r.Clients {
		p := c.Pool
		fmt.Fprintf(w, "  destination %s (%s): builds %d ok, %d failed; tests %d passed, %d failed\n",
			c.Name, c.Address, p.BuildsOK, p.BuildsFailed, p.TestsPassed, p.TestsFailed)
		for _, t := range c.InboundHops {
			fmt.Fprintf(w, "    in:  %s → us\n", shortHops(t))
		}
		for _, t := range c.OutboundHops {
			fmt.Fprintf(w, "    out: us → %s\n", shortHops(t))
		}
	}
}

// shortHops joins router hashes cut to their first 6 characters, as the
// routers' own consoles abbreviate them.
func shortHops(hops []string) string {
	short := make([]string, len(hops))
	for i, h := range hops {
		short[i] = h[:min(6, len(h))]
	}
	return strings.Join(short, " → ")
}
