// Package natsserver runs the embedded NATS JetStream server that holds the cds event log.
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/bacgiang/cds/internal/credentials"
)

// DefaultAddr is the NATS client address of the embedded server.
const DefaultAddr = "127.0.0.1:4222"

// DefaultSyncInterval bounds what a power cut can take to about a second of acknowledged
// events, against nats-server's default of 2 minutes. Measured at no cost: async publishing
// ran at 142,000-148,000 events/s with either interval (BenchmarkPublish).
const DefaultSyncInterval = time.Second

// readyTimeout bounds how long Start waits for the server to accept connections when ctx has
// no earlier deadline.
const readyTimeout = 30 * time.Second

// Config configures the embedded server.
type Config struct {
	// Addr is host:port to listen on for clients; "" means DefaultAddr. Port 0 or -1 picks a
	// free port (see Server.ClientURL).
	Addr string
	// StoreDir is the JetStream file storage directory. Required.
	StoreDir string
	// Hashes holds the users: one per agency, the admin and the services.
	// nil means no authentication at all, for tests only.
	Hashes *credentials.Hashes
	// ReportsFor maps an agency to the other agencies it may also publish for (aggregating
	// units). May be nil.
	ReportsFor map[string][]string
	// Limits bound what each agency may publish (gate.go); the zero value
	// is the defaults, 100 events/s and bursts of 2,000 per agency.
	Limits Limits
	// Check, when set, validates each event an agency publishes before the
	// log stores it (gate.go): an invalid event is refused with an error
	// PubAck and dead-lettered, and its id stays free. Nil stores every event.
	Check Check
	// Logger receives the log of nats-server and of this package; nil discards it.
	// Scope it yourself (e.g. With("component", "nats")).
	Logger *slog.Logger

	// SyncAlways makes JetStream fsync every message before it sends the PubAck
	// (nats-server sync_interval: always), so no acknowledged event is lost to a power cut or
	// kernel crash. It costs ~20x in throughput on the 2-core build machine (BenchmarkPublish):
	// ~2,700-3,100 events/s for a publisher that waits for each PubAck (~12,000-22,000
	// without) and ~3,000-7,200/s with 4,000 in flight (~130,000-175,000 without). Production
	// load (hundreds of agencies, well under 100 events/s) fits easily; the simulator and
	// cds bench do not, which is why it is off by default on a single server. In a
	// cluster cds nats turns it on unless told otherwise (--sync-interval): there a
	// PubAck waits for two nodes anyway, and a publisher with many events in flight
	// cost no more than the noise of the measurement, while one waiting for each PubAck
	// ran at 0.16-0.18x (BenchmarkClusterPublish).
	SyncAlways bool
	// SyncInterval is how often JetStream fsyncs when SyncAlways is off; a PubAck then means
	// the event is in the OS page cache, safe if cds crashes but not if the machine loses
	// power within the interval. 0 means DefaultSyncInterval.
	SyncInterval time.Duration

	// ServerName names the server (nats-server's server_name); "" lets
	// nats-server pick a random one. A cluster node needs one, unique in
	// the cluster and kept across restarts.
	ServerName string
	// Cluster, when enabled, makes the server a node of a NATS cluster.
	Cluster Cluster
}

// Server is a running embedded NATS JetStream server.
type Server struct {
	ns         *server.Server
	base       *server.Options // the start options, cloned for each reload
	reportsFor map[string][]string
	local      local
	gate       *gate // nil without authentication
	log        *slog.Logger

	reloadMu  sync.Mutex
	closeOnce sync.Once
}

// Start starts the server and returns once it accepts client connections, or with the error
// that stopped it (a port already in use, a JetStream store that cannot be opened). ctx bounds
// the start only; the server runs until Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("natsserver: StoreDir is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	host, port, err := splitAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	loc := newLocal()
	us, accounts, err := users(cfg.Hashes, cfg.ReportsFor, loc)
	if err != nil {
		return nil, err
	}

	opts := &server.Options{
		ServerName:             cfg.ServerName,
		Host:                   host,
		Port:                   port,
		NoSigs:                 true,
		JetStream:              true,
		DisableJetStreamBanner: true,
		StoreDir:               cfg.StoreDir,
		SyncAlways:             cfg.SyncAlways,
		SyncInterval:           cfg.SyncInterval,
		Users:                  us,
		Accounts:               accounts,
		// MaxPayload stays at the nats-server default, 1 MB: events are ~200 bytes to a few KB.
	}
	if err := cfg.Cluster.apply(opts, cfg.ServerName); err != nil {
		return nil, err
	}
	base := opts.Clone()

	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: %w", err)
	}
	la := newLogAdapter(logger)
	ns.SetLoggerV2(la, la.debugEnabled(), false, false)
	ns.Start() // enables JetStream synchronously, then accepts in the background

	if err := waitReady(ctx, ns, la); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, errors.New("natsserver: JetStream is not enabled")
	}
	s := &Server{ns: ns, base: base, reportsFor: cfg.ReportsFor, local: loc, log: logger}
	if cfg.Hashes != nil {
		g, err := startGate(ns, loc, cfg.Limits, cfg.Check, logger)
		if err == nil {
			err = g.sync(agencies(cfg.Hashes))
		}
		if err != nil {
			if g != nil {
				g.close()
			}
			ns.Shutdown()
			ns.WaitForShutdown()
			return nil, err
		}
		s.gate = g
	}
	attrs := []any{"url", s.ClientURL(), "store", cfg.StoreDir, "users", len(us), "sync_always", cfg.SyncAlways}
	if cfg.Cluster.Enabled() {
		attrs = append(attrs, "server_name", ns.Name(), "cluster", opts.Cluster.Name,
			"cluster_url", s.ClusterURL(), "routes", len(opts.Routes))
	}
	logger.Info("nats server ready", attrs...)
	return s, nil
}

// waitReady waits until ns accepts connections, reports a fatal error, or ctx or readyTimeout
// runs out.
func waitReady(ctx context.Context, ns *server.Server, la *logAdapter) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ready := ns.ReadyForConnections(50 * time.Millisecond)
		select {
		case <-la.fatal:
			return la.err
		default:
		}
		switch {
		case ready:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("natsserver: start: %w", ctx.Err())
		case time.Now().After(deadline):
			return fmt.Errorf("natsserver: not ready for connections after %s", readyTimeout)
		}
	}
}

// splitAddr parses host:port; port 0 and -1 both mean a free port.
func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("natsserver: address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("natsserver: address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT // 0 would mean 4222 to nats-server
	}
	return host, port, nil
}

// ClientURL returns the URL clients connect to, with the real port when a free one was picked.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// WaitGone waits until the server has dropped the client connection with id
// cid (nats.Conn.GetClientID), which its client closed, or ctx ends.
// nats-server checks every connection it still lists again at a reload of
// the users, and logs an "authentication error" for one that is already
// closing; a short-lived connection made just before a reload (the setup
// connection of cds nats) waits here so as not to cause that false alarm.
func (s *Server) WaitGone(ctx context.Context, cid uint64) error {
	for s.ns.GetClient(cid) != nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsserver: connection %d still open: %w", cid, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// ClusterURL returns the route URL of a cluster node (nats-route://host:port,
// with the real port when a free one was picked), "" for a single server.
func (s *Server) ClusterURL() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats-route://" + net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port))
}

// ReloadUsers replaces the users and their permissions while the server runs. Users that are
// gone (revoked agencies) can no longer connect, and their open connections are closed; so are
// those of users whose password changed. The ReportsFor of Start still applies.
func (s *Server) ReloadUsers(h *credentials.Hashes) error {
	if h == nil {
		return errors.New("natsserver: reload users: no credentials")
	}
	us, accounts, err := users(h, s.reportsFor, s.local)
	if err != nil {
		return err
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.gate != nil {
		if err := s.gate.open(agencies(h)); err != nil {
			return err
		}
	}
	if err := registerNewAccounts(s.ns, s.local.node, agencies(h), s.reportsFor); err != nil {
		return err
	}
	opts := s.base.Clone()
	opts.Users, opts.Accounts = us, accounts
	if err := s.ns.ReloadOptions(opts); err != nil {
		return fmt.Errorf("natsserver: reload users: %w", err)
	}
	if s.gate != nil {
		if err := s.gate.sync(agencies(h)); err != nil {
			return err
		}
	}
	s.log.Info("nats users reloaded", "users", len(us), "revoked", len(h.Revoked))
	return nil
}

// Close shuts the server down and waits until it has stopped. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.gate != nil {
			s.gate.close()
		}
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	})
	return nil
}

// Refused returns, per agency, the messages refused since start for being
// above the agency's limit.
func (s *Server) Refused() map[string]uint64 {
	if s.gate == nil {
		return nil
	}
	return s.gate.refused()
}

// agencies returns the agencies of h that are not revoked, sorted.
func agencies(h *credentials.Hashes) []string {
	var out []string
	for _, code := range slices.Sorted(maps.Keys(h.Agencies)) {
		if !h.IsRevoked(code) {
			out = append(out, code)
		}
	}
	return out
}

// Inner returns the nats-server instance, for tests and diagnostics.
func (s *Server) Inner() *server.Server { return s.ns }
