package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"i2pbridge/bridge/control"
	"i2pbridge/bridge/i2pnet"
	"i2pbridge/bridge/routernet"
	"i2pbridge/config"
	"i2pbridge/router"
	"i2pbridge/router/data"
	"i2pbridge/router/sam"
	"i2pbridge/router/tunnel/pool"
)

// routerStatuser is a backend that can describe its router for the status
// endpoint (the embedded one; an external router has its own console).
type routerStatuser interface {
	routerStatus(ctx context.Context) control.Router
}

// embeddedNet runs the bundled router for the life of one `i2pbridge run`.
// It is an i2pnet.Network so the runner treats both backends alike: each
// tunnel's destination lives on the router (bridge/routernet).
type embeddedNet struct {
	r      *router.Router
	net    *routernet.Network
	netID  int
	cancel context.CancelFunc
	done   chan error // Run's result, then closed

	once sync.Once
	err  error
	sam  sync.WaitGroup // the SAM server's goroutines
}

var _ i2pnet.Network = (*embeddedNet)(nil)

// routerConfig maps the YAML router settings onto router.Config.
func routerConfig(r config.Router, logger *slog.Logger) router.Config {
	maxTransit := 0 // router's default
	if m := r.Transit.MaxTunnels; m != nil {
		maxTransit = *m
		if maxTransit == 0 {
			maxTransit = -1 // none
		}
	}
	return router.Config{
		Bandwidth:     r.Bandwidth,
		MaxTransit:    maxTransit,
		Datadir:       r.Datadir,
		NetID:         r.NetID,
		NTCP2Listen:   r.NTCP2.Listen,
		NTCP2Host:     r.NTCP2.Host,
		Floodfill:     r.Floodfill,
		SeedDir:       r.SeedDir,
		ReseedFiles:   r.Reseed.Files,
		ReseedURLs:    r.Reseed.URLs,
		ReseedCertDir: r.Reseed.CertDir,
		Logger:        logger,
	}
}

// samServer says where the embedded router offers SAM (empty: nowhere).
type samServer struct{ tcp, udp string }

// startEmbedded creates the router (keys and router.info in the datadir,
// the NTCP2 listener, the netDb) and runs it until Close or ctx ends; with
// a SAM address it also serves SAMv3 there once the router runs.
func startEmbedded(ctx context.Context, rc router.Config, sa samServer) (*embeddedNet, error) {
	rt, err := router.New(rc)
	if err != nil {
		return nil, fmt.Errorf("embedded router: %w", err)
	}
	// Bind the SAM ports now, so that a port in use fails the start
	// instead of a log line later.
	var samLn net.Listener
	var samPC net.PacketConn
	if sa.tcp != "" {
		if samLn, err = net.Listen("tcp", sa.tcp); err != nil {
			rt.Close()
			return nil, fmt.Errorf("embedded router: SAM server: %w", err)
		}
	}
	if sa.udp != "" {
		if samPC, err = net.ListenPacket("udp", sa.udp); err != nil {
			samLn.Close()
			rt.Close()
			return nil, fmt.Errorf("embedded router: SAM datagram port: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	e := &embeddedNet{r: rt, net: routernet.New(rt, rc.Logger), netID: rc.NetID, cancel: cancel, done: make(chan error, 1)}
	if e.netID == 0 {
		e.netID = router.DefaultNetID
	}
	go func() {
		err := rt.Run(ctx)
		if err != nil && rc.Logger != nil {
			// The runner keeps the status endpoint up; the log and the
			// status (no sessions) tell the user the router is gone.
			rc.Logger.Error("embedded router stopped", "err", err)
		}
		e.done <- err
		close(e.done)
	}()
	if samLn != nil {
		logger := rc.Logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		srv, err := sam.New(sam.Config{Router: rt, Logger: logger.With("component", "sam")})
		if err != nil {
			samLn.Close()
			if samPC != nil {
				samPC.Close()
			}
			e.Close()
			return nil, fmt.Errorf("embedded router: SAM server: %w", err)
		}
		e.sam.Go(func() {
			for !rt.Running() && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			if samPC != nil {
				e.sam.Go(func() {
					if err := srv.ServeDatagrams(ctx, samPC); err != nil {
						logger.Error("SAM datagram port stopped", "err", err)
					}
				})
			}
			logger.Info("SAM server listening", "addr", samLn.Addr().String())
			if err := srv.Serve(ctx, samLn); err != nil {
				logger.Error("SAM server stopped", "err", err)
			}
		})
	}
	return e, nil
}

// Open opens a destination on the router, once the router is running
// (Run starts in the background as the tunnels start).
func (e *embeddedNet) Open(ctx context.Context, cfg i2pnet.SessionConfig) (i2pnet.Session, error) {
	for !e.r.Running() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err, ok := <-e.done:
			if !ok || err == nil {
				err = errors.New("stopped")
			}
			return nil, fmt.Errorf("embedded router: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return e.net.Open(ctx, cfg)
}

// Close stops the router and waits for it; later calls return the same
// result.
func (e *embeddedNet) Close() error {
	e.once.Do(func() {
		e.net.Close()
		e.cancel()
		e.sam.Wait()
		if err := <-e.done; err != nil {
			e.err = fmt.Errorf("embedded router: %w", err)
		}
	})
	return e.err
}

func (e *embeddedNet) routerStatus(ctx context.Context) control.Router {
	st := e.r.Status(ctx)
	out := control.Router{
		Hash: st.Hash.Base64(), NetID: e.netID, Caps: st.Caps, Floodfill: st.Floodfill,
		Routers: st.Routers, Floodfills: st.Floodfills, LeaseSets: st.LeaseSets,
		Sessions: st.Sessions, Inbound: st.Inbound, Outbound: st.Outbound,
		Published: st.Published, ClockSkew: st.ClockSkew, InboundTotal: st.InboundTotal, OutboundTotal: st.OutboundTotal,
		Transit: st.Transit, TransitAccepted: st.TransitAccepted, TransitRefused: st.TransitRefused,
	}
	out.Exploratory = poolStatus(st.Exploratory)
	for _, c := range st.Clients {
		out.Clients = append(out.Clients, control.Client{Name: c.Name, Address: c.B32, Pool: poolStatus(c.Pool),
			InboundHops: hopNames(c.Inbound), OutboundHops: hopNames(c.Outbound)})
	}
	for _, p := range st.Peers {
		out.Peers = append(out.Peers, control.Peer{Hash: p.Hash.Base64(), Inbound: p.Inbound, Outbound: p.Outbound})
	}
	if st.NTCP2.IsValid() {
		out.NTCP2 = st.NTCP2.String()
	}
	return out
}

func poolStatus(p pool.Stats) control.Pool {
	b := p.TotalBuilds()
	return control.Pool{Inbound: p.Inbound, Outbound: p.Outbound, BuildsOK: b.OK,
		BuildsFailed: b.Failed + b.Rejected + b.TimedOut, TestsPassed: p.TestsPassed, TestsFailed: p.TestsFailed}
}

func hopNames(tunnels [][]data.Hash) [][]string {
	out := make([][]string, len(tunnels))
	for i, hops := range tunnels {
		for _, h := range hops {
			out[i] = append(out[i], h.Base64())
		}
	}
	return out
}
