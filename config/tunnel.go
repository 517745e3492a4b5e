package config

import (
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
)

// Types lists the known tunnel types, sorted. The supervisor's constructor
// table should cover exactly these.
func Types() []string { return slices.Sorted(maps.Keys(kinds)) }

// IsServer reports whether t accepts streams from I2P (tcp-server, and later
// http-server, irc-server): it publishes a leaseset and keeps its keys.
func (t Tunnel) IsServer() bool {
	k, ok := kinds[t.Type]
	return ok && k.server
}

// IsClient reports whether t is a known type that dials out into I2P from a
// local listener (tcp-client, later http-proxy, irc-client).
func (t Tunnel) IsClient() bool {
	k, ok := kinds[t.Type]
	return ok && !k.server
}

// poolOptions is the I2CP form of t's inbound and outbound pools (set
// fields only).
func poolOptions(t Tunnel) map[string]string {
	m := map[string]string{}
	for dir, p := range map[string]Pool{"inbound": t.Inbound, "outbound": t.Outbound} {
		for name, v := range map[string]*int{"length": p.Length, "quantity": p.Quantity, "lengthVariance": p.Variance} {
			if v != nil {
				m[dir+"."+name] = strconv.Itoa(*v)
			}
		}
	}
	return m
}

// I2CPOptions is what the router gets for this tunnel's destination: Options
// plus the pools as inbound.length, inbound.quantity,
// inbound.lengthVariance and the same for outbound. Pool fields win over the
// same names in Options (Validate refuses a config that sets both). The map
// is new on each call; it is empty, never nil, when nothing is set.
func (t Tunnel) I2CPOptions() map[string]string {
	m := maps.Clone(t.Options)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, poolOptions(t))
	return m
}

// Equal reports whether t and u define the same tunnel, so a reload can
// leave an unchanged tunnel (and its open streams) alone. Compare Files
// after Load: defaults and paths are resolved there. Nil and empty Options
// are the same; every other field, added later or not, must match.
func (t Tunnel) Equal(u Tunnel) bool {
	if len(t.Options) == 0 && len(u.Options) == 0 {
		t.Options, u.Options = nil, nil
	}
	return reflect.DeepEqual(t, u)
}

// Equal reports whether r and s select the same router; when they differ a
// reload must restart the router connection and with it every tunnel.
func (r Router) Equal(s Router) bool { return reflect.DeepEqual(r, s) }

// RouterEqual reports whether f and g run on the same router (see
// Router.Equal). Control is not part of it: a new control address only
// restarts the status endpoint (compare f.Control == g.Control).
func (f *File) RouterEqual(g *File) bool { return f.Router.Equal(g.Router) }

// Tunnel returns the tunnel named name.
func (f *File) Tunnel(name string) (Tunnel, bool) {
	for _, t := range f.Tunnels {
		if t.Name == name {
			return t, true
		}
	}
	return Tunnel{}, false
}

// Resolve makes p absolute against the datadir, the way keys and the
// control socket are resolved: "" stays "", absolute paths are only
// cleaned. The supervisor puts its per-tunnel files there, e.g.
// r.Resolve(t.Name + ".b32").
func (r Router) Resolve(p string) string {
	switch {
	case p == "":
		return ""
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	}
	return filepath.Join(r.Datadir, p)
}
