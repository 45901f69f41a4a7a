package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/api"
	"github.com/bacgiang/cds/internal/board"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/credentials"
	"github.com/bacgiang/cds/internal/history"
	"github.com/bacgiang/cds/internal/natsserver"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
	"github.com/bacgiang/cds/internal/simulate"
	"github.com/bacgiang/cds/projector"
)

// Parts selects what a System runs.
type Parts struct {
	NATS      bool // the embedded server (else connect to Config.NATSURL)
	Projector bool
	API       bool
	// ManagedClickHouse starts clickhouse-server when Config.ClickHouseAddr is empty.
	ManagedClickHouse bool
	// Simulate, when not nil, runs the simulated province against the NATS
	// server with the agencies' own credentials.
	Simulate *simulate.Config
}

// System is a set of running components, closed in reverse start order.
type System struct {
	Config   Config
	Registry *registry.Registry
	Catalog  *catalog.Catalog
	Metrics  *prometheus.Registry
	NATS     *natsserver.Server
	CH       *ClickHouse
	API      *api.Server
	Proj     *projector.Projector
	Sim      *simulate.Simulator
	// History keeps the score history current (nil when the API does not
	// run here, or Config.HistoryInterval is negative); HistoryReader reads it.
	History       *history.Refresher
	HistoryReader *history.Store
	// Admission bounds the API's requests that read ClickHouse at once
	// (nil when the API does not run here).
	Admission *admission.Controller

	log     *slog.Logger
	closers []func(context.Context) error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error
	failed  chan struct{} // closed when err is set
	// componentFailed is cds_component_failed{component}: 1 once it stopped with an error.
	componentFailed *prometheus.GaugeVec
	once            sync.Once
}

// NATSURL is the URL components connect to.
func (s *System) NATSURL() string {
	if s.NATS != nil {
		return s.NATS.ClientURL()
	}
	return s.Config.NATSURL
}

// Start starts the selected parts. On error, what was started is stopped.
func Start(ctx context.Context, cfg Config, parts Parts) (*System, error) {
	reg, cat, err := cfg.Domain()
	if err != nil {
		return nil, err
	}
	s := &System{Config: cfg, Registry: reg, Catalog: cat, log: cfg.logger(), Metrics: prometheus.NewRegistry(), failed: make(chan struct{})}
	s.componentFailed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cds_component_failed", Help: "1 once a background component (projector, simulator, credentials watch) stopped with an error; the process then exits non-zero.",
	}, []string{"component"})
	s.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), s.componentFailed)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	if err := s.start(ctx, runCtx, parts); err != nil {
		s.Close(context.Background())
		return nil, err
	}
	return s, nil
}

func (s *System) onClose(f func(context.Context) error) { s.closers = append(s.closers, f) }

func (s *System) start(ctx, runCtx context.Context, parts Parts) error {
	cfg := s.Config
	if err := s.serveDebug(cfg.MetricsAddr, s.metricsHandler(), "metrics"); err != nil {
		return err
	}
	if err := s.serveDebug(cfg.PprofAddr, pprofHandler(), "pprof"); err != nil {
		return err
	}
	if parts.NATS {
		if err := s.startNATS(ctx, runCtx); err != nil {
			return err
		}
	} else if cfg.NATSURL == "" {
		return errors.New("no NATS: give --nats (CDS_NATS_URL) or run the embedded server")
	}
	if !parts.Projector && !parts.API {
		return nil
	}
	ch, err := OpenClickHouse(ctx, cfg, parts.ManagedClickHouse)
	if err != nil {
		return err
	}
	s.CH = ch
	s.onClose(func(context.Context) error { return ch.Close() })
	if err := LoadReference(ctx, ch.DB, s.Catalog, s.Registry); err != nil {
		return err
	}
	if ch.Server != nil {
		s.log.Info("clickhouse", "addr", ch.Server.Addr(), "managed", ch.Server.Managed())
	}
	if parts.Projector {
		if err := s.startProjector(runCtx, ch); err != nil {
			return err
		}
	}
	if parts.API {
		if err := s.startAPI(runCtx, ch); err != nil {
			return err
		}
	}
	if parts.Simulate != nil {
		return s.startSimulator(runCtx, *parts.Simulate)
	}
	return nil
}

// startNATS starts the embedded NATS server and watches the credentials
// files for changes.
func (s *System) startNATS(ctx, runCtx context.Context) error {
	cfg := s.Config
	srv, err := StartNATS(ctx, cfg, s.Registry)
	if err != nil {
		return err
	}
	s.NATS = srv
	s.onClose(func(context.Context) error { return srv.Close() })
	s.Metrics.MustRegister(newRefusedCollector(srv))
	if err := s.watchCredentials(runCtx, srv); err != nil {
		return err
	}
	s.log.Info("nats listening", "url", srv.ClientURL())
	return nil
}

// startProjector runs the projector over ch.
func (s *System) startProjector(runCtx context.Context, ch *ClickHouse) error {
	cfg := s.Config
	nc, err := ConnectService(s.NATSURL(), cfg.DataDir, credentials.ServiceProjector, "cds-projector", s.log.With("component", "projector"))
	if err != nil {
		return err
	}
	s.onClose(func(context.Context) error { nc.Close(); return nil })
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	p, err := projector.New(projector.Config{HeapBudget: cfg.ProjectorHeap, MemoryBudget: cfg.ProjectorMemory, LeaseTTL: cfg.ProjectorLeaseTTL, FoldDir: cfg.FoldStoreDir()}, projector.Deps{JetStream: js, DB: ch.DB, Units: s.Registry, Logger: s.log.With("component", "projector"), Registerer: s.Metrics})
	if err != nil {
		return err
	}
	s.Proj = p
	s.Go("projector", func() error { return p.Run(runCtx) })
	return nil
}

// startAPI serves the HTTP API, the board and the ingest over ch, and runs
// the score-history refresher when this process keeps it.
func (s *System) startAPI(runCtx context.Context, ch *ClickHouse) error {
	cfg := s.Config
	nc, err := ConnectService(s.NATSURL(), cfg.DataDir, credentials.ServiceAPI, "cds-api", s.log.With("component", "api"))
	if err != nil {
		return err
	}
	s.onClose(func(context.Context) error { nc.Close(); return nil })
	in, agencyOf, err := s.newIngest(nc)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	store := scores.NewStore(ch.DB)
	registerStoreMetrics(s.Metrics, store)
	engine := &scores.Engine{Catalog: s.Catalog, Registry: s.Registry, Store: store, Drills: scores.NewDrillCache(0)}
	registerDrillMetrics(s.Metrics, engine.Drills)
	s.newHistory(engine)
	brd, err := s.newBoard(engine, ch, nc)
	if err != nil {
		return err
	}
	s.Admission = admission.New(admission.Config{Slots: ReadSlots(cfg.ReadSlots), DrillSlots: cfg.DrillSlots}, s.Metrics)
	srv := api.New(api.Config{Addr: cfg.HTTPAddr, ReadTokens: cfg.ReadTokens}, api.Deps{
		Engine: engine, Registry: s.Registry, Catalog: s.Catalog, Ingest: in, Board: brd,
		Health: func(ctx context.Context) error {
			return errors.Join(s.Err(), health(ctx, ch, nc))
		},
		Gatherer: s.Metrics, Logger: s.log.With("component", "api"),
		DeadLetters: &deadLetters{js: js}, AgencyOf: agencyOf,
		Admission: s.Admission,
	})
	if err := srv.Start(); err != nil {
		return err
	}
	s.API = srv
	s.onClose(srv.Close)
	if s.History != nil {
		h := s.History
		s.Go("history", func() error { return h.Run(runCtx) })
	}
	return nil
}

// ReadSlots is the number of read slots Config.ReadSlots n gives: n, 0
// meaning half the ClickHouse connection pool.
func ReadSlots(n int) int {
	if n > 0 {
		return n
	}
	return max(1, chdb.DefaultMaxConns/2)
}

// startSimulator runs the simulated province.
func (s *System) startSimulator(runCtx context.Context, sc simulate.Config) error {
	cfg := s.Config
	creds, err := credentials.LoadFile(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	sim, err := simulate.New(sc, s.Registry, creds, s.NATSURL(), s.log)
	if err != nil {
		return err
	}
	s.Sim = sim
	s.Go("simulator", func() error { return sim.Run(runCtx) })
	return nil
}

// newHistory makes the score-history reader and, unless another process
// keeps the history (Config.HistoryInterval < 0), its refresher, run in the
// API process: it scores with the same catalogue and registry as the API it
// answers next to (so the history equals the API), and keeps the
// projector's process, whose heap budget and CPU are tuned for the drain,
// free of scoring bursts.
func (s *System) newHistory(engine *scores.Engine) {
	s.HistoryReader = history.NewStore(s.CH.DB, engine)
	if s.Config.HistoryInterval < 0 {
		return
	}
	s.History = history.New(history.Config{Interval: s.Config.HistoryInterval}, s.CH.DB, s.Catalog, s.Registry, s.log.With("component", "history"), s.Metrics)
}

// newBoard makes the board's pages (internal/board): trends from the score
// history (from the engine at every month-end until the refresher of this
// process has written it once), each day's scores from the engine through
// the board's exact per-day cache, freshness from ClickHouse and the stream.
func (s *System) newBoard(engine *scores.Engine, ch *ClickHouse, nc *nats.Conn) (*board.Board, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("board: jetstream: %w", err)
	}
	streamLast := func(ctx context.Context) (uint64, error) {
		st, err := js.Stream(ctx, natsserver.EventsStream)
		if err != nil {
			return 0, err
		}
		return st.CachedInfo().State.LastSeq, nil
	}
	et := board.NewEngineTrends(engine, ch.DB)
	trends := board.Trends(et)
	if s.History != nil {
		trends = historyTrends{store: s.HistoryReader, refresher: s.History, fallback: et}
	}
	return board.New(board.Config{
		Engine: engine, Trends: trends, Days: et,
		Freshness:  board.ClickHouseFreshness(ch.DB, streamLast),
		ReadTokens: s.Config.ReadTokens, Logger: s.log.With("component", "board"),
	})
}

// health checks ClickHouse and NATS, both every time: the error names each
// that fails (errors.Join), so /healthz lists them all.
func health(ctx context.Context, ch *ClickHouse, nc *nats.Conn) error {
	var errs []error
	if err := ch.DB.Ping(ctx); err != nil {
		errs = append(errs, fmt.Errorf("clickhouse: %w", err))
	}
	if !nc.IsConnected() {
		errs = append(errs, fmt.Errorf("nats: %s", nc.Status()))
	}
	return errors.Join(errs...)
}

// Go runs f, the component name, until the System closes. An error from
// f (prefixed with name unless it names it already) is kept for Err, logged once at ERROR
// level, and closes Done: the System cannot go on without an operator.
func (s *System) Go(name string, f func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := f(); err != nil {
			if !strings.HasPrefix(err.Error(), name+":") {
				err = fmt.Errorf("%s: %w", name, err)
			}
			s.errMu.Lock()
			first := s.err == nil
			if first {
				s.err = err
				close(s.failed)
			}
			s.errMu.Unlock()
			s.componentFailed.WithLabelValues(name).Set(1)
			s.log.Error("component stopped", "component", name, "err", err)
		}
	}()
}

// Done is closed as soon as a background component (the projector, the
// simulator) stops with an error; Err then says which and why.
func (s *System) Done() <-chan struct{} { return s.failed }

// Err returns the first error of a background component, if any.
func (s *System) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Close stops background work (the projector finishes its batch), then
// closes components in reverse start order. It is idempotent.
func (s *System) Close(ctx context.Context) error {
	var errs []error
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](ctx); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// WaitCaughtUp waits until the projector's watermark reaches the stream's
// last sequence (as read when called), or ctx ends.
func (s *System) WaitCaughtUp(ctx context.Context, js jetstream.JetStream) error {
	st, err := js.Stream(ctx, natsserver.EventsStream)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return err
	}
	for s.Proj.Watermark() < info.State.LastSeq {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// historyTrends draws the board's trend charts from cds.score_history, kept
// by the refresher of this process. Until it has completed its first
// refresh (the table may still hold an older registry's or catalogue's
// rows), it asks the engine instead. A process without a refresher draws
// from the engine: it cannot know how current another process keeps the
// table.
type historyTrends struct {
	store     *history.Store
	refresher *history.Refresher
	fallback  board.Trends
}

// UnitTrends implements board.Trends.
func (t historyTrends) UnitTrends(ctx context.Context, unit string, milestone int, asOf registry.Date) (map[string][]board.TrendPoint, error) {
	if !t.refresher.Ready() {
		return t.fallback.UnitTrends(ctx, unit, milestone, asOf)
	}
	pts, err := t.store.UnitTrends(ctx, unit, milestone, asOf)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]board.TrendPoint, len(pts))
	for code, ps := range pts {
		tp := make([]board.TrendPoint, len(ps))
		for i, p := range ps {
			tp[i] = board.TrendPoint{AsOf: p.AsOf, Value: p.Value, Target: p.Target, Expected: p.Expected, Status: p.Status}
		}
		out[code] = tp
	}
	return out, nil
}
