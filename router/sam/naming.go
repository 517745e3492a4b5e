package sam

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"i2pbridge/router/data"
	"i2pbridge/router/destination"
)

// namingLookup runs NAMING LOOKUP (samv3.html "Host Name Lookup"): ME is
// this socket's session; a .b32.i2p name is looked up in the network
// (with the session's destination, or the shared one on a socket without
// a session); another .i2p name goes to Config.Hosts; a base64
// Destination is checked and returned.
func (c *conn) namingLookup(ctx context.Context, l Line) {
	name, ok := l.Get("NAME")
	if !ok || name == "" {
		c.replyError(namingReply, "NAME is missing")
		return
	}
	answer := func(result string, d data.Destination, msg string) {
		extra := []Arg{{"NAME", name}}
		if !d.IsZero() {
			extra = append(extra, Arg{"VALUE", d.Base64()})
		}
		c.status(namingReply, result, msg, extra...)
	}
	sess := c.sess
	if sess == nil && c.fwd != nil {
		sess = c.fwd.sess
	}
	lower := strings.ToLower(name)
	switch {
	case name == "ME":
		if sess == nil {
			answer("I2P_ERROR", data.Destination{}, "NAME=ME needs a session created on this socket")
			return
		}
		answer("OK", sess.keys.Destination(), "")
	case strings.HasSuffix(lower, data.B32Suffix):
		h, err := data.ParseB32(name)
		if err != nil {
			answer("INVALID_KEY", data.Destination{}, err.Error())
			return
		}
		lctx, cancel := context.WithTimeout(ctx, c.s.cfg.LookupTimeout)
		defer cancel()
		wctx, wcancel := c.watchCancel(lctx)
		defer wcancel()
		var d *destination.Destination
		if sess != nil {
			d = sess.client.Dest
		} else if d, err = c.s.sharedDestination(wctx); err != nil {
			if !c.clientGone() {
				answer("I2P_ERROR", data.Destination{}, fmt.Sprintf("no destination to look up with: %v", err))
			}
			return
		}
		ls, err := d.LookupLeaseSet(wctx, h)
		switch {
		case c.clientGone():
			c.state = connClosed
		case err != nil && (errors.Is(err, destination.ErrNotFound) || errors.Is(err, destination.ErrLookupTimeout) || errors.Is(err, context.DeadlineExceeded)):
			answer("KEY_NOT_FOUND", data.Destination{}, err.Error())
		case err != nil:
			answer("I2P_ERROR", data.Destination{}, err.Error())
		default:
			answer("OK", ls.Destination(), "")
		}
	case strings.HasSuffix(lower, ".i2p"):
		if c.s.cfg.Hosts != nil {
			if d, ok := c.s.cfg.Hosts(name); ok {
				answer("OK", d, "")
				return
			}
		}
		answer("KEY_NOT_FOUND", data.Destination{}, "not in the address book")
	default:
		d, err := data.ParseDestinationBase64(name)
		if err != nil {
			answer("INVALID_KEY", data.Destination{}, "not a .i2p name, .b32.i2p address or base64 destination: "+err.Error())
			return
		}
		answer("OK", d, "")
	}
}

// destGenerate runs DEST GENERATE (samv3.html "Destination Key
// Generation"). Keys are always Ed25519 signing with X25519 encryption;
// asking for another type is an error, not a silent substitution.
func (c *conn) destGenerate(l Line) {
	if err := checkSignatureType(l); err != nil {
		c.replyError(destReply, err.Error())
		return
	}
	if err := checkCryptoType(l); err != nil {
		c.replyError(destReply, err.Error())
		return
	}
	keys, err := c.s.generateKeys()
	if err != nil {
		c.replyError(destReply, err.Error())
		return
	}
	c.reply(Line{Verb: "DEST", Sub: "REPLY", Args: []Arg{{"PUB", keys.Destination().Base64()}, {"PRIV", keys.Base64()}}})
}
