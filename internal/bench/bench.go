// Package bench measures cds on a fresh embedded setup — JetStream publish,
// the raw read ceiling, the projector's drain of queued events (as its own
// process, so its memory is its own), HTTP ingest, freshness at a steady
// rate, rebuild and score queries — each printed as "name: value unit".
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/bacgiang/cds/internal/app"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/chserver"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/registry"
)

// Config says what to measure.
type Config struct {
	Events         int    // events queued before the drain, default 1,000,000
	ClickHouseAddr string // external ClickHouse; empty starts a managed one on free ports
	Dir            string // working directory; empty = a temporary one, removed after
	Binary         string // the cds binary for the projector and the mixed readers' API processes; default this executable
	// Baseline, when set, is another cds binary whose projector drains the
	// same queue first (then the projections are emptied): its figures are
	// printed with the prefix baseline_, and projector_drain_vs_baseline
	// compares the two in one run.
	Baseline string
	// DrainOnly stops after the drain (and its baseline): no API steps, no
	// rebuild.
	DrainOnly bool
	// SkipRebuild leaves out the last step, the rebuild (a second drain of
	// the whole stream, into a dropped database): what makes a run at 20M
	// events take hours, and not needed for the read figures.
	SkipRebuild bool
	// PprofAddr, when set, serves the Go profiler on that address: of this
	// process (the API of the ingest, query and page steps runs in it),
	// then of each cds serve process the mixed readers read, one after the
	// other.
	PprofAddr     string
	FreshnessRate int // events/s of the steady load, default 5000
	FreshnessFor  time.Duration
	Queries       int // score queries per endpoint, default 200
	// Readers read the API at once for ReadersFor in the mixed-readers
	// step (readers.go); default 32 for 30s.
	Readers    int
	ReadersFor time.Duration
	// QueryLog turns on the managed ClickHouse's system.query_log
	// (chserver.Config.QueryLog): the mixed readers' step then prints
	// ClickHouse's queries per kind (queryLogBreakdown).
	QueryLog bool
	Out      io.Writer
	Progress io.Writer // progress lines; nil = none
}

func (c Config) withDefaults() (Config, error) {
	if c.Events == 0 {
		c.Events = 1000000
	}
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return c, err
		}
		c.Binary = exe
	}
	if c.FreshnessRate == 0 {
		c.FreshnessRate = 5000
	}
	if c.FreshnessFor == 0 {
		c.FreshnessFor = 10 * time.Second
	}
	if c.Queries == 0 {
		c.Queries = 200
	}
	if c.Readers == 0 {
		c.Readers = 32
	}
	if c.ReadersFor == 0 {
		c.ReadersFor = 30 * time.Second
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	return c, nil
}

// env is what the steps share.
type env struct {
	Printer
	cfg     Config
	dir     string
	reg     *registry.Registry
	natsURL string
	creds   *credentials.File
	js      jetstream.JetStream
	chAddr  string
	dbName  string
	db      *chdb.DB
	raw     float64
	pub     float64
	pubCPU  float64 // µs of this process's CPU time per published event
	last    uint64
	chPID   int // the managed ClickHouse's process; 0 for an external one
	drained int // drains emptied (emptyProjections)
	// drainRate and baseDrain are the drain rates of the binary measured
	// and of the baseline (0 without one).
	drainRate, baseDrain float64
	// steadyRuns counts the runs of publishSteady, each with a generator
	// of its own.
	steadyRuns uint64
}

// dropTimeout bounds the drop of the bench's database at the end of a run.
const dropTimeout = 20 * time.Second

// Run measures and prints the figures.
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	e := &env{cfg: cfg, reg: registry.Sample(), Printer: Printer{Name: "bench", Out: cfg.Out, Progress: cfg.Progress}}
	e.dir = cfg.Dir
	if e.dir == "" {
		d, err := os.MkdirTemp("", "cds-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		e.dir = d
	}
	acfg := app.Defaults()
	acfg.DataDir = e.dir
	acfg.NATSAddr = "127.0.0.1:-1"
	ns, err := app.StartNATS(ctx, acfg, e.reg)
	if err != nil {
		return err
	}
	defer ns.Close()
	e.natsURL = ns.ClientURL()
	if e.creds, err = credentials.LoadFile(e.dir); err != nil {
		return err
	}
	nc, err := nats.Connect(e.natsURL, nats.UserInfo(e.creds.Admin.User, e.creds.Admin.Password))
	if err != nil {
		return err
	}
	defer nc.Close()
	if e.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192)); err != nil {
		return err
	}
	e.chAddr = cfg.ClickHouseAddr
	if e.chAddr == "" {
		srv, err := startClickHouse(ctx, filepath.Join(e.dir, "clickhouse"), cfg.QueryLog)
		if err != nil {
			return err
		}
		defer srv.Close()
		e.chAddr, e.chPID = srv.Addr(), srv.PID()
	}
	e.dbName = "cds_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if e.db, err = chdb.Open(ctx, chdb.Config{Addr: e.chAddr, Database: e.dbName}); err != nil {
		return err
	}
	managed := cfg.ClickHouseAddr == ""
	defer func() {
		defer e.db.Close()
		if managed {
			// The managed server and its directory are removed with the
			// run; a DROP would only wait for the tables' merges.
			return
		}
		// Bounded: ClickHouse waits for the tables' merges before it
		// drops them, minutes after a drain of millions of events, and an
		// interrupted run should end promptly.
		dctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
		defer cancel()
		if err := e.db.DropDatabase(dctx); err != nil {
			e.Progressf("left database %s behind: %v", e.dbName, err)
		}
	}()
	if _, err := e.db.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Out, "machine: %d cores, GOMAXPROCS %d, %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Fprintf(cfg.Out, "events: %d\n", cfg.Events)

	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"publish", e.publish},
		{"raw read", e.rawRead},
		{"projector drain", e.drainAndServe},
	}
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// startClickHouse starts a clickhouse-server of its own in dir, on free
// ports, logging its queries with queryLog.
func startClickHouse(ctx context.Context, dir string, queryLog bool) (*chserver.Server, error) {
	tcp, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return chserver.Start(ctx, chserver.Config{Dir: dir, TCPAddr: tcp, HTTPAddr: httpAddr, NoAdopt: true, QueryLog: queryLog})
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// watermark reads the projector's committed position from ClickHouse.
func (e *env) watermark(ctx context.Context) (uint64, error) {
	return e.db.Watermark(ctx)
}

func (e *env) waitWatermark(ctx context.Context, target uint64, every time.Duration, report func(uint64)) error {
	last := time.Now()
	for {
		w, err := e.watermark(ctx)
		if err != nil {
			return err
		}
		if w >= target {
			return nil
		}
		if report != nil && time.Since(last) > 2*time.Second {
			report(w)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
