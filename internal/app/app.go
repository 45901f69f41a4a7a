// Package app wires the cds components into the processes the cds command
// runs: the embedded NATS server, the managed ClickHouse, the projector, the
// HTTP API and the simulated province.
package app

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/ingest"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chserver"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector"
)

// Config holds the settings shared by the cds subcommands. Flags and
// environment fill it (see cmd/cds).
type Config struct {
	DataDir        string // --data / CDS_DATA_DIR
	NATSAddr       string // listen address of the embedded server
	NATSURL        string // --nats / CDS_NATS_URL: server to connect to; "" = the embedded one
	ClickHouseAddr string // --clickhouse / CDS_CLICKHOUSE_ADDR: host:port or a DSN (chdb.Config.Addr); "" = managed clickhouse-server
	ClickHouseTCP  string // managed server native address
	ClickHouseHTTP string // managed server HTTP address
	ClickHouseDB   string // database; "" = the DSN's, else cds
	// ClickHouseCluster (--clickhouse-cluster / CDS_CLICKHOUSE_CLUSTER)
	// names the ClickHouse cluster whose replicas the DSN lists: migrations
	// create replicated tables on every one of them, and the projector
	// commits with a quorum (chdb.Config.Cluster). "" = one server.
	ClickHouseCluster string
	// ClickHousePassword (CDS_CLICKHOUSE_PASSWORD) is the password of the
	// ClickHouse user; it wins over the DSN's. It is never printed.
	ClickHousePassword string
	// ClickHouseCA (--clickhouse-ca / CDS_CLICKHOUSE_CA) is a PEM file of
	// the authorities that sign the server's TLS certificate; it implies TLS.
	ClickHouseCA    string
	HTTPAddr        string        // --http / CDS_HTTP_ADDR
	UnitsPath       string        // --units / CDS_UNITS: "" = the shipped Bắc Giang sample
	CatalogPath     string        // --catalog / CDS_CATALOG: "" = the shipped catalogue
	DuplicateWindow time.Duration // JetStream duplicate window
	Ingest          ingest.Config // limits of POST /v1/events (--ingest-rate, --ingest-burst)
	ReadTokens      []string      // --read-token / CDS_READ_TOKEN: when set, the read API needs one (api/auth.go)
	// MetricsAddr (--metrics / CDS_METRICS_ADDR), when set, serves /metrics
	// on a listener of its own: for cds projector, which has no API (cds up
	// and cds serve also serve /metrics on the API). Empty = off.
	MetricsAddr string
	// PprofAddr (--pprof / CDS_PPROF), when set, serves the Go profiler
	// under /debug/pprof/ on a listener of its own. Empty = off.
	PprofAddr string
	// AnalystPassword (CDS_ANALYST_PASSWORD) sets the password of the managed
	// ClickHouse's read-only user "analyst"; empty keeps the one in
	// <data>/clickhouse-analyst.password, or creates a random one there.
	AnalystPassword string
	// ProjectorHeap (cds projector --memory-limit-mb, less the local fold
	// store's cache, memtables and filter), when positive, is the projector's heap
	// budget: the projector sets the Go runtime's soft
	// memory limit to it (see projector.Config.HeapBudget). Zero leaves the
	// runtime alone.
	ProjectorHeap int64
	// ProjectorMemory (cds projector --memory-limit-mb), when positive
	// with ProjectorHeap, is the projector process's whole budget: the
	// soft memory limit is also kept within it less the resident memory
	// measured outside the Go runtime (projector.Config.MemoryBudget).
	ProjectorMemory int64
	// FoldDir (--fold-dir / CDS_FOLD_DIR) is where the projector keeps its
	// local fold store (projector.Config.FoldDir); "" = <data>/foldstate.
	FoldDir string
	// HistoryInterval (--history-interval / CDS_HISTORY_INTERVAL) is how
	// often the API process refreshes the score history (package history):
	// 0 = history.DefaultInterval; negative = no refresher in this process
	// (another API process of the same database keeps it).
	HistoryInterval time.Duration
	// ProjectorLeaseTTL (cds projector --lease-ttl) is how long a stopped
	// projector keeps its lease before a standby takes over (see
	// projector.Config.LeaseTTL); 0 = the projector's default.
	ProjectorLeaseTTL time.Duration
	// NATSServerName (--server-name / CDS_NATS_SERVER_NAME) names the
	// embedded server; a cluster node needs one, unique in the cluster.
	NATSServerName string
	// NATSCluster (--cluster-name, --cluster-listen, --routes) makes the
	// embedded server a node of a NATS cluster.
	NATSCluster natsserver.Cluster
	// NATSReplicas (--replicas / CDS_NATS_REPLICAS) is the replica count of
	// CDS_EVENTS, CDS_DLQ and the key-value buckets: 0 = 3 in a cluster, else 1.
	NATSReplicas int
	// NATSSyncInterval (--sync-interval / CDS_NATS_SYNC_INTERVAL) is
	// "always" (fsync before every PubAck) or a duration: "" = always in a
	// cluster, else natsserver.DefaultSyncInterval.
	NATSSyncInterval string
	// ReadSlots (--read-slots / CDS_READ_SLOTS) is how many requests of the
	// API may read ClickHouse at once (internal/admission); more wait a
	// moment in a queue, then are answered 503 with Retry-After. 0 = half
	// of the ClickHouse connection pool (chdb.DefaultMaxConns): a board
	// page may hold two or three connections, and the projector and the
	// score-history refresher share the pool.
	ReadSlots int
	// DrillSlots (--drill-slots / CDS_DRILL_SLOTS) is how many of the read
	// slots the drill-downs' reads of the drill-down tables may hold at
	// once (admission.Config.DrillSlots), so that the score reads keep
	// slots of their own; 0 = a quarter of the read slots, at least one.
	DrillSlots int
	Logger     *slog.Logger
}

// Defaults returns the addresses of docs/design.md, "Names, ports and commands".
func Defaults() Config {
	return Config{
		DataDir:        ".data",
		NATSAddr:       natsserver.DefaultAddr,
		ClickHouseTCP:  chserver.DefaultTCPAddr,
		ClickHouseHTTP: chserver.DefaultHTTPAddr,
		HTTPAddr:       "127.0.0.1:8080",
	}
}

// FoldStoreDir is the directory of the projector's local fold store:
// FoldDir, else <data>/foldstate.
func (c Config) FoldStoreDir() string {
	if c.FoldDir != "" {
		return c.FoldDir
	}
	return filepath.Join(c.DataDir, "foldstate")
}

// NATSClientURL is the NATS server a command connects to: NATSURL, else the
// embedded server at NATSAddr.
func (c Config) NATSClientURL() string {
	if c.NATSURL != "" {
		return c.NATSURL
	}
	return "nats://" + c.NATSAddr
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Domain loads the registry and the catalogue.
func (c Config) Domain() (*registry.Registry, *catalog.Catalog, error) {
	reg := registry.Sample()
	if c.UnitsPath != "" {
		var err error
		if reg, err = registry.Load(c.UnitsPath); err != nil {
			return nil, nil, fmt.Errorf("load units %s: %w", c.UnitsPath, err)
		}
	}
	cat := catalog.Default()
	if c.CatalogPath != "" {
		var err error
		if cat, err = catalog.Load(c.CatalogPath); err != nil {
			return nil, nil, fmt.Errorf("load catalogue %s: %w", c.CatalogPath, err)
		}
	}
	return reg, cat, nil
}

// ReportsFor returns, per agency, the other units it may publish for.
func ReportsFor(reg *registry.Registry) map[string][]string {
	out := map[string][]string{}
	for _, u := range reg.Units() {
		if len(u.ReportsFor) > 0 {
			out[u.Code] = append([]string(nil), u.ReportsFor...)
		}
	}
	return out
}

// NATSLimits are the per-agency limits of the embedded NATS server: those of
// HTTP ingest (docs/security.md).
func NATSLimits(c ingest.Config) natsserver.Limits {
	out := natsserver.Limits{Rate: c.Rate, Burst: c.Burst, Agencies: map[string]natsserver.Limit{}}
	for code, l := range c.Agencies {
		out.Agencies[code] = natsserver.Limit{Rate: l.Rate, Burst: l.Burst}
	}
	return out
}

// EventCheck is the check of the NATS gate: an event published over NATS is
// checked as ingest checks one sent over HTTP (decoded, its subject matching
// its body, the rules with the registry), so that an invalid event is refused
// before the log stores it and never uses up its id (docs/integrators.md).
// maxFuture 0 means ingest's default.
func EventCheck(reg *registry.Registry, maxFuture time.Duration) natsserver.Check {
	if maxFuture <= 0 {
		maxFuture = ingest.DefaultMaxFuture
	}
	rules := events.Rules{MaxFuture: maxFuture, Units: reg}
	return func(subject string, data []byte) error {
		_, err := rules.CheckMessage(subject, data)
		return err
	}
}

// StartNATS ensures the credentials of every agency of the registry, starts
// the embedded JetStream server and creates or updates the streams and the
// projector's lease bucket with the replica count. A cluster node waits
// there until the cluster has a JetStream leader and enough nodes for the
// replicas (ctx bounds the wait).
func StartNATS(ctx context.Context, cfg Config, reg *registry.Registry) (*natsserver.Server, error) {
	clustered := cfg.NATSCluster.Enabled()
	replicas, err := natsserver.Replicas(cfg.NATSReplicas, clustered)
	if err != nil {
		return nil, err
	}
	if replicas > 1 && !clustered {
		return nil, fmt.Errorf("nats: %d replicas need a cluster (--routes, --cluster-listen); a single server keeps 1", replicas)
	}
	syncAlways, syncInterval, err := natsserver.ParseSyncInterval(cfg.NATSSyncInterval, clustered)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	_, hashes, err := credentials.Ensure(cfg.DataDir, reg.Codes())
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	logger := cfg.logger().With("component", "nats")
	srv, err := natsserver.Start(ctx, natsserver.Config{
		Addr:         cfg.NATSAddr,
		StoreDir:     filepath.Join(cfg.DataDir, "nats"),
		Hashes:       hashes,
		ReportsFor:   ReportsFor(reg),
		Limits:       NATSLimits(cfg.Ingest),
		Check:        EventCheck(reg, cfg.Ingest.MaxFuture),
		Logger:       logger,
		SyncAlways:   syncAlways,
		SyncInterval: syncInterval,
		ServerName:   cfg.NATSServerName,
		Cluster:      cfg.NATSCluster,
	})
	if err != nil {
		return nil, err
	}
	if err := ensureLog(ctx, srv, cfg, replicas, logger); err != nil {
		srv.Close()
		return nil, err
	}
	return srv, nil
}

// ensureLog creates or updates the streams and the lease bucket through srv,
// as the projector's service user (EnsureLog).
func ensureLog(ctx context.Context, srv *natsserver.Server, cfg Config, replicas int, logger *slog.Logger) error {
	nc, err := ConnectService(srv.ClientURL(), cfg.DataDir, credentials.ServiceProjector, "cds-setup", logger)
	if err != nil {
		return err
	}
	cid, _ := nc.GetClientID()
	defer func() {
		// The credentials watch reloads the users next: the server must
		// have let go of this connection (natsserver.Server.WaitGone).
		nc.Close()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.WaitGone(wctx, cid); err != nil {
			logger.Warn("setup connection", "err", err)
		}
	}()
	return EnsureLog(ctx, nc, cfg.DuplicateWindow, replicas, cfg.NATSCluster.Enabled(), logger)
}

// EnsureLog creates or updates CDS_EVENTS, CDS_DLQ and the projector's lease
// bucket with replicas copies over nc (a user that may: the projector's or
// the admin). With wait, it tries again until the cluster can place them
// (a cluster that is still forming), or ctx ends.
func EnsureLog(ctx context.Context, nc *nats.Conn, window time.Duration, replicas int, wait bool, logger *slog.Logger) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ensure := func(ctx context.Context) error {
		if err := natsserver.EnsureStreams(ctx, js, natsserver.StreamConfig{DuplicateWindow: window, Replicas: replicas}); err != nil {
			return err
		}
		_, err := projector.EnsureLeaseBucket(ctx, js, replicas)
		return err
	}
	if !wait {
		return ensure(ctx)
	}
	var logged time.Time
	for {
		// A request sent before the cluster has a JetStream leader gets no
		// answer: a short timeout tries again soon.
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := ensure(actx)
		cancel()
		if err == nil {
			logger.Info("nats streams ready", "replicas", replicas)
			return nil
		}
		if time.Since(logged) >= 10*time.Second {
			logged = time.Now()
			logger.Warn("waiting for the JetStream cluster to place the streams (a quorum of nodes must be up)", "replicas", replicas, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats: streams with %d replicas: %w (last error: %v)", replicas, ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ConnectService connects to NATS as one of the service users whose secret
// is in <data>/credentials.json. It reconnects for ever. The connection's
// asynchronous errors go to log (nil: slog's default logger).
func ConnectService(url, dataDir, service, name string, log *slog.Logger) (*nats.Conn, error) {
	f, err := credentials.LoadFile(dataDir)
	if err != nil {
		return nil, fmt.Errorf("nats credentials for %s: %w", service, err)
	}
	u, ok := f.Services[service]
	if !ok {
		return nil, fmt.Errorf("nats credentials: no service %q in %s", service, filepath.Join(dataDir, credentials.FileName))
	}
	nc, err := nats.Connect(url,
		nats.Name(name),
		nats.UserInfo(u.User, u.Password),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.ErrorHandler(asyncErrors(log, name)),
	)
	if err != nil {
		return nil, fmt.Errorf("connect nats %s as %s: %w", url, u.User, err)
	}
	return nc, nil
}

// asyncErrors logs a connection's asynchronous errors, instead of nats.go's
// default handler, which prints them bare on stderr. The one seen in
// practice is a slow consumer on the projector's pull subscription: when a
// pull request's heartbeat is late (a loaded machine), the client takes the
// request as lost and pulls again, so up to twice the buffer's worth of
// messages arrive while the reader folds a batch, and the client drops the
// overflow. Nothing is lost: the projector finds the gap in the stream
// sequence, commits up to it and fetches again from there
// (docs/projector.md, "A lost pull request"); the API's publish
// acknowledgements, if dropped, answer the sender "retry later".
func asyncErrors(log *slog.Logger, name string) nats.ErrHandler {
	if log == nil {
		log = slog.Default()
	}
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if sub == nil {
			log.Warn("nats: asynchronous error", "connection", name, "err", err)
			return
		}
		msg := "nats: asynchronous error on a subscription"
		if errors.Is(err, nats.ErrSlowConsumer) {
			msg = "nats: subscription buffer full, messages dropped"
		}
		log.Warn(msg, "connection", name, "subject", sub.Subject, "err", err)
	}
}

// ClickHouse is an open database, and the managed server behind it if cds started one.
type ClickHouse struct {
	DB     *chdb.DB
	Server *chserver.Server // nil when CDS_CLICKHOUSE_ADDR names an external server
}

// Close closes the connection, then stops a managed server.
func (c *ClickHouse) Close() error {
	var errs []error
	if c.DB != nil {
		errs = append(errs, c.DB.Close())
	}
	if c.Server != nil {
		errs = append(errs, c.Server.Close())
	}
	return errors.Join(errs...)
}

// OpenClickHouse connects to the configured ClickHouse, or starts the managed
// one (adopting a server that already answers on its address), and applies
// the migrations.
func OpenClickHouse(ctx context.Context, cfg Config, managed bool) (*ClickHouse, error) {
	ch := &ClickHouse{}
	addr := cfg.ClickHouseAddr
	if addr == "" && managed {
		pw, err := analystPassword(cfg.DataDir, cfg.AnalystPassword)
		if err != nil {
			return nil, err
		}
		srv, err := chserver.Start(ctx, chserver.Config{
			Dir:             filepath.Join(cfg.DataDir, "clickhouse"),
			TCPAddr:         cfg.ClickHouseTCP,
			HTTPAddr:        cfg.ClickHouseHTTP,
			AnalystPassword: pw,
			Logger:          cfg.logger().With("component", "clickhouse"),
		})
		if err != nil {
			return nil, err
		}
		ch.Server = srv
		addr = srv.Addr()
	}
	if addr == "" {
		addr = cfg.ClickHouseTCP
	}
	db, err := chdb.Open(ctx, chdb.Config{Addr: addr, Database: cfg.ClickHouseDB, Password: cfg.ClickHousePassword, CAFile: cfg.ClickHouseCA, Cluster: cfg.ClickHouseCluster})
	if err != nil {
		ch.Close()
		return nil, err
	}
	ch.DB = db
	v, err := db.Version()
	if err != nil {
		ch.Close()
		return nil, err
	}
	cfg.logger().Info("clickhouse connected", "addr", db.Addr, "user", db.User, "database", db.Name, "version", v)
	if _, err := db.Migrate(ctx); err != nil {
		ch.Close()
		return nil, err
	}
	return ch, nil
}

// AnalystPasswordFile holds the password of the read-only ClickHouse user
// "analyst" of the managed server (chserver.DefaultAnalystUser).
const AnalystPasswordFile = "clickhouse-analyst.password"

// analystPassword returns the analyst password and keeps it in
// AnalystPasswordFile (mode 0600), which thus always holds the password in
// force: the one given (CDS_ANALYST_PASSWORD), else the one already in the
// file, else a new random one. The managed server's users.xml, rewritten on
// every start, stores only its SHA-256.
func analystPassword(dataDir, given string) (string, error) {
	path := filepath.Join(dataDir, AnalystPasswordFile)
	pw := strings.TrimSpace(given)
	if pw == "" {
		if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) != "" {
			return strings.TrimSpace(string(b)), nil
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("analyst password: %w", err)
		}
		buf := make([]byte, 16)
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		pw = hex.EncodeToString(buf)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("analyst password: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil { // WriteFile keeps the mode of an existing file
		return "", fmt.Errorf("analyst password: %w", err)
	}
	return pw, nil
}

// SimulationSeedFile keeps the seed of the simulated province, so that a
// restarted `cds up --simulate` regenerates the same event ids and the
// projector drops the events it already has instead of counting them twice.
const SimulationSeedFile = "simulation.seed"

// SimulationSeed returns the data directory's simulation seed, creating it once.
func SimulationSeed(dataDir string) (uint64, error) {
	path := filepath.Join(dataDir, SimulationSeedFile)
	if b, err := os.ReadFile(path); err == nil {
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v == 0 {
			return 0, fmt.Errorf("simulation seed %s: expected a non-zero number", path)
		}
		return v, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("simulation seed: %w", err)
	}
	var buf [8]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(buf[:]) | 1
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return 0, err
	}
	if err := os.WriteFile(path, []byte(strconv.FormatUint(v, 10)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("simulation seed: %w", err)
	}
	return v, nil
}
