package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/bacgiang/cds/internal/app"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

// commands lists the subcommands in the order "cds help" shows them.
func commands() []command {
	return []command{
		{"up", "everything in one process: NATS, ClickHouse (managed), projector, API; --simulate adds the simulated province", runUp},
		{"nats", "the embedded NATS JetStream server alone (a cluster node with --routes); cds nats config prints the accounts and users for your own nats-server", runNATS},
		{"clickhouse", "one clickhouse-server in the foreground (exec), optionally a replica of a cluster (--clickhouse-cluster)", runClickHouse},
		{"projector", "fold the event stream into ClickHouse", runProjector},
		{"serve", "the HTTP API: ingest (POST /v1/events) and queries", runServe},
		{"publish", "publish NDJSON events from a file or stdin as an agency", runPublish},
		{"agency", "agency credentials: list, add, rotate, revoke (running servers apply them at once)", runAgency},
		{"rebuild", "drop the projections and recompute them from the event log", runRebuild},
		{"republish", "publish ClickHouse's events into the event log again, after the JetStream store was lost", runRepublish},
		{"dlq", "dead letters: list, show, replay the events the projector refused", runDLQ},
		{"cluster", "helpers of a cluster on one host: init its credentials, show its status (deployments/cluster/local)", runCluster},
		{"bench", "measure raw read, projector drain and rebuild rates on a fresh embedded setup", runBench},
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(os.Stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return nil // -h: the flag set printed the usage
			}
			return err
		}
	}
	usage(os.Stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: cds <command> [flags]   (cds <command> -h for its flags)")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

// common registers the flags every command shares; environment variables
// give their defaults (docs/design.md, "Names, ports and commands").
type common struct {
	cfg      app.Config
	logLevel string
	// envErrs are the environment variables that did not parse; parse
	// reports them, as it reports a bad flag value.
	envErrs []error
}

func newFlags(name string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet("cds "+name, flag.ContinueOnError)
	c := &common{cfg: app.Defaults()}
	d := c.cfg
	fs.StringVar(&c.cfg.DataDir, "data", env("CDS_DATA_DIR", d.DataDir), "data directory: credentials, JetStream store, managed ClickHouse (CDS_DATA_DIR)")
	fs.StringVar(&c.cfg.NATSURL, "nats", env("CDS_NATS_URL", ""), "NATS server URL, or a comma-separated list of a cluster's (nats://a:4222,nats://b:4222): a client connects to any and reconnects to the others; empty runs or uses the embedded one (CDS_NATS_URL)")
	fs.StringVar(&c.cfg.NATSAddr, "nats-listen", env("CDS_NATS_LISTEN", d.NATSAddr), "listen address of the embedded NATS server (CDS_NATS_LISTEN)")
	fs.StringVar(&c.cfg.ClickHouseAddr, "clickhouse", env("CDS_CLICKHOUSE_ADDR", ""), "ClickHouse native address host:port, or a DSN clickhouse://user@host:port[,host:port]/database?secure=true (give the password in CDS_CLICKHOUSE_PASSWORD, not here: a command line is visible in ps); empty starts a managed clickhouse-server (CDS_CLICKHOUSE_ADDR)")
	fs.StringVar(&c.cfg.ClickHouseCA, "clickhouse-ca", env("CDS_CLICKHOUSE_CA", ""), "PEM file of the certificate authorities of the ClickHouse server's TLS certificate; implies TLS (CDS_CLICKHOUSE_CA)")
	fs.StringVar(&c.cfg.ClickHouseTCP, "clickhouse-tcp", env("CDS_CLICKHOUSE_TCP", d.ClickHouseTCP), "native address of the managed clickhouse-server (CDS_CLICKHOUSE_TCP)")
	fs.StringVar(&c.cfg.ClickHouseHTTP, "clickhouse-http", env("CDS_CLICKHOUSE_HTTP", d.ClickHouseHTTP), "HTTP address of the managed clickhouse-server (CDS_CLICKHOUSE_HTTP)")
	fs.StringVar(&c.cfg.ClickHouseDB, "database", env("CDS_CLICKHOUSE_DB", ""), "ClickHouse database; empty = the DSN's, else cds (CDS_CLICKHOUSE_DB)")
	fs.StringVar(&c.cfg.ClickHouseCluster, "clickhouse-cluster", env("CDS_CLICKHOUSE_CLUSTER", ""), "name of the ClickHouse cluster whose replicas --clickhouse lists (host:port,host:port): migrations create replicated tables on each, the projector's commits wait for a quorum; empty = one server (CDS_CLICKHOUSE_CLUSTER)")
	c.cfg.ClickHousePassword = os.Getenv("CDS_CLICKHOUSE_PASSWORD")
	fs.StringVar(&c.cfg.HTTPAddr, "http", env("CDS_HTTP_ADDR", d.HTTPAddr), "HTTP API listen address (CDS_HTTP_ADDR)")
	fs.StringVar(&c.cfg.UnitsPath, "units", env("CDS_UNITS", ""), "organisation-unit registry file; empty = shipped Bắc Giang sample (CDS_UNITS)")
	fs.StringVar(&c.cfg.CatalogPath, "catalog", env("CDS_CATALOG", ""), "indicator catalogue file; empty = shipped Resolution 111 catalogue (CDS_CATALOG)")
	fs.DurationVar(&c.cfg.DuplicateWindow, "dedup-window", 0, "JetStream duplicate window of CDS_EVENTS (0 = default)")
	fs.StringVar(&c.cfg.MetricsAddr, "metrics", env("CDS_METRICS_ADDR", ""), "listen address of a /metrics endpoint of its own, e.g. 127.0.0.1:9464, for cds projector (the API serves /metrics too); empty = off (CDS_METRICS_ADDR)")
	fs.StringVar(&c.cfg.PprofAddr, "pprof", env("CDS_PPROF", ""), "listen address of the Go profiler (/debug/pprof/); empty = off (CDS_PPROF)")
	fs.StringVar(&c.logLevel, "log", env("CDS_LOG", "info"), "log level: debug, info, warn, error (CDS_LOG)")
	c.accessFlags(fs, name)
	return fs, c
}

func (c *common) parse(fs *flag.FlagSet, args []string) error {
	if err := errors.Join(c.envErrs...); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.checkSlots(); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("-log: %w", err)
	}
	c.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	return nil
}

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// serveUntilDone waits for ctx or a component failure (sys.Done), then
// closes sys. A failure is returned: cds exits non-zero with it.
func serveUntilDone(ctx context.Context, sys *app.System) error {
	select {
	case <-ctx.Done():
		sys.Config.Logger.Info("shutting down")
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return sys.Close(cctx)
	case <-sys.Done():
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sys.Close(cctx)
		return sys.Err()
	}
}
