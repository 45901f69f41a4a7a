package board

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// TrendPoint is one month-end (or as_of) of an indicator's trend for a unit.
type TrendPoint struct {
	AsOf                    registry.Date
	Value, Target, Expected *float64
	Status                  string
}

// Trends answers an indicator trend per unit: month-ends from the catalogue baseline to asOf, plus asOf.
type Trends interface {
	UnitTrends(ctx context.Context, unit string, milestone int, asOf registry.Date) (map[string][]TrendPoint, error)
}

// TrendDays returns the days of a trend: every month-end from the month of
// baseline (the first on or after it) up to asOf, then asOf itself if it is
// not a month-end.
func TrendDays(baseline, asOf registry.Date) []registry.Date {
	var out []registry.Date
	for d := monthEnd(baseline); !d.After(asOf); d = monthEnd(d.AddDays(1)) {
		out = append(out, d)
	}
	if len(out) == 0 || out[len(out)-1] != asOf {
		out = append(out, asOf)
	}
	return out
}

// monthEnd returns the last day of d's month.
func monthEnd(d registry.Date) registry.Date {
	return registry.NewDate(d.Year(), d.Month()+1, 1).AddDays(-1)
}

// PreviousMonthEnd returns the last month-end before d (the day before d's
// month began).
func PreviousMonthEnd(d registry.Date) registry.Date {
	return registry.NewDate(d.Year(), d.Month(), 1).AddDays(-1)
}

// EngineTrends is Trends over a *scores.Engine: it scores the unit's whole
// level at every day of the trend and keeps each level's scores per day. It
// also serves the board's other per-day figures (DayScores: a level's
// scores and the silence at as_of) from the same cache.
//
// The cache stays exact without being thrown away at every projector
// commit. A score at day d is a function of the events with occurred_at on
// or before d (and of the events they correct). Each request reads the
// projector's commit markers (cds.rollup, projector/doc.go); when they moved
// from stream sequence w to w', the events of (w, w'] and those they
// supersede give the earliest day that may have changed, and only the
// entries from that day on are dropped. When the markers changed without
// the sequence moving forward (a rebuild), everything is dropped.
type EngineTrends struct {
	engine *scores.Engine
	db     *chdb.DB
	// MaxEntries bounds the level-day entries kept; 0 means 4096.
	MaxEntries int

	mu      sync.Mutex
	mark    string // the commit markers the entries are valid for
	seq     uint64 // their stream sequence
	entries map[levelDay]*cached
	flights map[levelDay]*cached
	use     uint64
	runs    uint64 // computations run
}

// Stats reports the entries held and the computations run so far.
func (t *EngineTrends) Stats() (entries int, runs uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries), t.runs
}

// levelDay keys an entry: a level's scores at a day for a milestone;
// (window > 0) the silence of a level (all levels: "") at a day; or (unit
// set) a page of the events behind a unit's indicator at a day.
type levelDay struct {
	level     registry.Level
	milestone int
	day       registry.Date
	window    int
	unit      string
	indicator string
	offset    int
	limit     int
}

// cached is one entry, or a computation in progress (done not yet closed).
type cached struct {
	done    chan struct{}
	scores  *scores.LevelScores
	silence *scores.Silence
	drill   *scores.Drill
	err     error
	used    uint64
}

// NewEngineTrends returns Trends over engine, checking ClickHouse db (the
// one engine's store reads) for commits.
func NewEngineTrends(engine *scores.Engine, db *chdb.DB) *EngineTrends {
	return &EngineTrends{engine: engine, db: db, entries: map[levelDay]*cached{}, flights: map[levelDay]*cached{}}
}

// readMark reads the commit markers through the engine's Store
// (scores.Store.Marks): the read shared with the score and drill-down
// requests, which takes no read slot, so that a page answered from the
// caches is not held back by the slots.
func (t *EngineTrends) readMark(ctx context.Context) (string, uint64, error) {
	key, seq, err := t.engine.Store.Marks(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("board trends: %w", err)
	}
	return key, seq, nil
}

// syncedKey marks a context whose request has synced the cache already.
type syncedKey struct{ t *EngineTrends }

// Begin syncs the cache with the commits once for a request: the calls
// made with the context it returns read the commit markers no more. A page
// that shows several figures then shows them as of one reading.
func (t *EngineTrends) Begin(ctx context.Context) (context.Context, error) {
	if err := t.sync(ctx); err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, syncedKey{t}, true), nil
}

// sync drops what the commits since the last call may have changed.
func (t *EngineTrends) sync(ctx context.Context) error {
	if ctx.Value(syncedKey{t}) != nil {
		return nil
	}
	mark, seq, err := t.readMark(ctx)
	if err != nil {
		return err
	}
	t.mu.Lock()
	same, from := mark == t.mark, t.seq
	t.mu.Unlock()
	if same {
		return nil
	}
	drop := registry.Date{} // zero: everything
	if seq > from && from > 0 {
		var at time.Time
		var ok bool
		err := admission.Hold(ctx, admission.Light, func(ctx context.Context) error {
			var err error
			at, ok, err = t.db.EarliestChanged(ctx, from, seq)
			return err
		})
		if err != nil {
			return fmt.Errorf("board trends: %w", err)
		}
		if !ok {
			drop = registry.NewDate(9999, 12, 31) // nothing folded changed a score
		} else {
			drop = registry.DateOf(at)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mark == mark { // another request synced meanwhile
		return nil
	}
	for k := range t.entries {
		if drop.IsZero() || !k.day.Before(drop) {
			delete(t.entries, k)
		}
	}
	t.mark, t.seq = mark, seq
	return nil
}

// LevelAt returns the scores of every unit of level at day, from the cache
// when no commit since changed them.
func (t *EngineTrends) LevelAt(ctx context.Context, level registry.Level, milestone int, day registry.Date) (*scores.LevelScores, error) {
	if err := t.sync(ctx); err != nil {
		return nil, err
	}
	return t.levelAt(ctx, levelDay{level: level, milestone: milestone, day: day})
}

// SilenceAt returns the silence of level ("" for all) at day over window
// days, from the cache when no commit since changed it: like a score at
// day, it depends only on the events that occurred up to day.
func (t *EngineTrends) SilenceAt(ctx context.Context, level registry.Level, day registry.Date, window int) (*scores.Silence, error) {
	if err := t.sync(ctx); err != nil {
		return nil, err
	}
	c, err := t.compute(ctx, levelDay{level: level, day: day, window: window})
	if err != nil {
		return nil, err
	}
	return c.silence, nil
}

// EventsAt returns a page of the events behind a unit's indicator at day,
// from the cache when no commit since changed them: the events that count
// at day are those that occurred up to day, less those corrected since
// (whose own day is then the one dropped).
func (t *EngineTrends) EventsAt(ctx context.Context, unit, indicator string, milestone int, day registry.Date, offset, limit int) (*scores.Drill, error) {
	if err := t.sync(ctx); err != nil {
		return nil, err
	}
	c, err := t.compute(ctx, levelDay{unit: unit, indicator: indicator, milestone: milestone, day: day, offset: offset, limit: limit})
	if err != nil {
		return nil, err
	}
	return c.drill, nil
}

func (t *EngineTrends) levelAt(ctx context.Context, k levelDay) (*scores.LevelScores, error) {
	c, err := t.compute(ctx, k)
	if err != nil {
		return nil, err
	}
	return c.scores, nil
}

// compute returns the entry for k, computing it once for concurrent callers.
func (t *EngineTrends) compute(ctx context.Context, k levelDay) (*cached, error) {
	t.mu.Lock()
	t.use++
	if c, ok := t.entries[k]; ok {
		c.used = t.use
		t.mu.Unlock()
		return c, nil
	}
	if f, ok := t.flights[k]; ok {
		t.mu.Unlock()
		// Bounded as a wait for a read slot when the request is admitted
		// per read (admission.Await), in the class of the read it waits for.
		cl := admission.Light
		if k.unit != "" {
			cl = admission.Drill
		}
		if err := admission.Await(ctx, cl, f.done); err != nil {
			return nil, err
		}
		return f, f.err
	}
	f := &cached{done: make(chan struct{})}
	t.flights[k] = f
	mark := t.mark
	t.runs++
	t.mu.Unlock()

	switch {
	case k.unit != "":
		f.drill, f.err = t.engine.Events(ctx, k.unit, k.indicator, scores.Query{AsOf: k.day, Milestone: k.milestone}, k.offset, k.limit)
	case k.window > 0:
		f.silence, f.err = t.engine.Silence(ctx, scores.Query{AsOf: k.day, Milestone: k.milestone}, k.window, k.level)
	default:
		f.scores, f.err = t.engine.Level(ctx, k.level, scores.Query{AsOf: k.day, Milestone: k.milestone})
	}
	t.mu.Lock()
	delete(t.flights, k)
	// An entry computed while a sync dropped its day would be stale: keep
	// it only if the markers are still those it started under.
	if f.err == nil && t.mark == mark {
		f.used = t.use
		t.entries[k] = f
		t.evict()
	}
	t.mu.Unlock()
	close(f.done)
	return f, f.err
}

// evict removes the least recently used entries beyond MaxEntries; the
// caller holds mu.
func (t *EngineTrends) evict() {
	max := t.MaxEntries
	if max <= 0 {
		max = 4096
	}
	if len(t.entries) <= max {
		return
	}
	keys := make([]levelDay, 0, len(t.entries))
	for k := range t.entries {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return t.entries[keys[i]].used < t.entries[keys[j]].used })
	for _, k := range keys[:len(keys)-max] {
		delete(t.entries, k)
	}
}

// UnitTrends implements Trends: for every indicator of the unit, its value,
// target, expected value and status at each day of TrendDays on which the
// unit was in force.
func (t *EngineTrends) UnitTrends(ctx context.Context, unit string, milestone int, asOf registry.Date) (map[string][]TrendPoint, error) {
	u, ok := t.engine.Registry.Unit(unit)
	if !ok {
		return nil, fmt.Errorf("%w: %q", scores.ErrUnknownUnit, unit)
	}
	if err := t.sync(ctx); err != nil {
		return nil, err
	}
	days := TrendDays(t.engine.Catalog.BaselineDate(), asOf)
	levels := make([]*scores.LevelScores, len(days))
	// Two at a time: the engine's reads are ClickHouse scans, and the
	// machine this runs on may have two cores.
	sem := make(chan struct{}, 2)
	errs := make([]error, len(days))
	var wg sync.WaitGroup
	for i, d := range days {
		if !u.InForce(d) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			levels[i], errs[i] = t.levelAt(ctx, levelDay{level: u.Level, milestone: milestone, day: d})
		}()
	}
	wg.Wait()
	out := map[string][]TrendPoint{}
	for i, ls := range levels {
		if errs[i] != nil {
			return nil, fmt.Errorf("board trends: %s at %s: %w", unit, days[i], errs[i])
		}
		if ls == nil {
			continue
		}
		for _, us := range ls.Units {
			if us.Unit != unit {
				continue
			}
			for _, ind := range us.Indicators {
				out[ind.Code] = append(out[ind.Code], TrendPoint{AsOf: days[i], Value: ind.Value, Target: ind.Target, Expected: ind.Expected, Status: ind.Status})
			}
		}
	}
	return out, nil
}
