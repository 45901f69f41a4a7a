package history

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// DefaultInterval is how often a Refresher looks for changes by default:
// with the time of a full recomputation (docs/analysts.md gives the times
// measured), well inside the 60 s in which a change must show.
const DefaultInterval = 10 * time.Second

// Config configures a Refresher.
type Config struct {
	// Interval between refreshes; 0 means DefaultInterval.
	Interval time.Duration
	// Now gives the time that decides "today" (in province time); nil means
	// time.Now.
	Now func() time.Time
}

// Stats describes one refresh.
type Stats struct {
	Full     bool          // every point recomputed (the first refresh of a process)
	From     registry.Date // first point recomputed (zero when none)
	Points   int           // dates recomputed
	Rows     int           // rows written to cds.score_history
	UnitRows int           // rows written to cds.score_history_units
	Took     time.Duration
}

// Refresher keeps cds.score_history and cds.score_history_units current.
// It must be the only one of its database: several would only write the
// same rows twice, but each first refresh deletes older versions.
type Refresher struct {
	cfg    Config
	db     *chdb.DB
	engine *scores.Engine
	log    *slog.Logger
	m      *metrics

	mu      sync.Mutex // one refresh at a time; guards the state below
	done    bool       // a refresh succeeded: the state below is what it wrote
	mark    string
	months  map[registry.Date]fingerprint
	today   registry.Date
	version uint64

	ready atomic.Bool // a refresh has completed since New

	errMu   sync.Mutex
	lastErr error
}

// chunk is how many dates a refresh scores after one scan of the cells
// (scores.Engine.Preloaded).
const chunk = 24

// New returns a Refresher that scores units of reg against cat from the
// cells of db, as the API does, and writes the history to db. It reads the
// cells on its own (scores.Engine.Preloaded), not through the API's cache.
// A nil logger logs nothing; a nil registerer registers no metrics.
func New(cfg Config, db *chdb.DB, cat *catalog.Catalog, reg *registry.Registry, logger *slog.Logger, registerer prometheus.Registerer) *Refresher {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	engine := &scores.Engine{Catalog: cat, Registry: reg, Store: scores.NewStoreCache(db, 0)}
	return &Refresher{cfg: cfg, db: db, engine: engine, log: logger, m: newMetrics(registerer)}
}

// Run refreshes at once, then every Config.Interval, until ctx ends; it then
// returns nil. A refresh that took more than half the interval is followed
// by a pause as long as itself, up to the interval: a late event in an early
// month recomputes every later month, and on a busy machine that must leave
// time to the rest of the process. A failed refresh is logged, counted
// (cds_history_failures_total) and kept for Err, and the next one tries
// again from the state of the last refresh that succeeded.
func (r *Refresher) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st, err := r.Refresh(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Error("score history refresh failed", "err", err)
		}
		t.Reset(max(r.cfg.Interval-st.Took, min(st.Took, r.cfg.Interval)))
	}
}

// Ready reports whether a refresh has completed since New: from then on the
// history holds every point of this process's catalogue and registry.
func (r *Refresher) Ready() bool { return r.ready.Load() }

// Err returns the error of the last refresh, nil when it succeeded.
func (r *Refresher) Err() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.lastErr
}

// Refresh brings the history up to date once: it recomputes the points that
// changed since the last refresh (all of them the first time) and returns
// what it did.
func (r *Refresher) Refresh(ctx context.Context) (Stats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	st, err := r.refresh(ctx)
	st.Took = time.Since(start)
	r.errMu.Lock()
	r.lastErr = err
	r.errMu.Unlock()
	if err != nil {
		r.m.failures.Inc()
		return st, fmt.Errorf("refresh score history: %w", err)
	}
	r.ready.Store(true)
	r.m.refreshes.Inc()
	r.m.lastSuccess.SetToCurrentTime()
	if st.Points > 0 {
		r.m.points.Add(float64(st.Points))
		r.m.rows.Add(float64(st.Rows + st.UnitRows))
		r.m.duration.Observe(st.Took.Seconds())
		r.log.Info("score history refreshed", "full", st.Full, "from", st.From.String(),
			"points", st.Points, "rows", st.Rows, "unit_rows", st.UnitRows, "took", st.Took.Round(time.Millisecond))
	}
	return st, nil
}

func (r *Refresher) refresh(ctx context.Context) (Stats, error) {
	today := registry.DateOf(r.cfg.Now())
	mark, err := readMark(ctx, r.db)
	if err != nil {
		return Stats{}, err
	}
	if r.done && mark == r.mark && today == r.today {
		return Stats{}, nil
	}
	months := r.months
	if !r.done || mark != r.mark {
		if months, err = readFingerprints(ctx, r.db); err != nil {
			return Stats{}, err
		}
	}
	all := points(r.engine.Catalog.BaselineDate(), today)
	var dirty []registry.Date
	if !r.done {
		dirty = all
	} else {
		from, changed := firstChange(r.months, months)
		for _, p := range all {
			// A point after the last refresh's today was not computed yet.
			if (changed && !p.Before(from)) || p.After(r.today) {
				dirty = append(dirty, p)
			}
		}
	}
	version := uint64(time.Now().UnixNano())
	if version <= r.version {
		version = r.version + 1
	}
	st := Stats{Full: !r.done, Points: len(dirty)}
	if len(dirty) > 0 {
		st.From = dirty[0]
		if st.Rows, st.UnitRows, err = r.write(ctx, dirty, version); err != nil {
			return st, err
		}
	}
	if !r.done {
		// Every key was just written at version: older rows are superseded or gone.
		if err := r.db.DeleteHistoryBelow(ctx, version); err != nil {
			return st, err
		}
	} else if r.today != today && !isMonthEnd(r.today) {
		if err := r.db.DeleteHistoryAt(ctx, r.today.String()); err != nil {
			return st, err
		}
	}
	r.done, r.mark, r.months, r.today, r.version = true, mark, months, today, version
	return st, nil
}
