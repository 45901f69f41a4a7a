package history

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

const (
	historyColumns = "as_of, milestone, unit, level, indicator, kind, numerator, denominator, value, target, expected, baseline, attainment, status, weight, period, catalog_version, registry_version, version, computed_at"
	unitColumns    = "as_of, milestone, unit, name, level, composite, rank, ranked, met, on_track, at_risk, off_track, no_data, catalog_version, registry_version, version, computed_at"
)

// flushRows bounds the rows held before an insert: each insert is one part
// (no partitions), few and large as ClickHouse wants.
const flushRows = 200_000

// parallel bounds the engine calls a refresh runs at once: they compute
// from preloaded snapshots, so two cores are kept busy by two.
const parallel = 2

// write scores every point of dates for every milestone and level with the
// engine and inserts the rows at version. It returns the rows written to
// each table.
func (r *Refresher) write(ctx context.Context, dates []registry.Date, version uint64) (int, int, error) {
	w := &writer{r: r, ctx: ctx, version: version, at: time.Now()}
	for i := 0; i < len(dates); i += chunk {
		part := dates[i:min(i+chunk, len(dates))]
		engine, err := r.engine.Preloaded(ctx, part)
		if err != nil {
			return w.rows, w.unitRows, err
		}
		scored, err := score(ctx, engine, part)
		if err != nil {
			w.abort()
			return w.rows, w.unitRows, err
		}
		for _, ls := range scored {
			if err := w.add(ls); err != nil {
				return w.rows, w.unitRows, err
			}
		}
	}
	if err := w.flush(); err != nil {
		return w.rows, w.unitRows, err
	}
	return w.rows, w.unitRows, nil
}

// score scores every level for every milestone at each of dates with
// engine, running up to parallel calls at once (an Engine is safe for
// concurrent use, as the API uses it).
func score(ctx context.Context, engine *scores.Engine, dates []registry.Date) ([]*scores.LevelScores, error) {
	var qs []struct {
		level registry.Level
		q     scores.Query
	}
	for _, d := range dates {
		for _, ms := range engine.Catalog.Milestones() {
			for _, level := range registry.Levels() {
				qs = append(qs, struct {
					level registry.Level
					q     scores.Query
				}{level, scores.Query{AsOf: d, Milestone: ms}})
			}
		}
	}
	out := make([]*scores.LevelScores, len(qs))
	errs := make([]error, len(qs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, c := range qs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ls, err := engine.Level(ctx, c.level, c.q)
			if err != nil {
				err = fmt.Errorf("score %s at %s for %d: %w", c.level, c.q.AsOf, c.q.Milestone, err)
			}
			out[i], errs[i] = ls, err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// writer batches rows of both tables.
type writer struct {
	r              *Refresher
	ctx            context.Context
	version        uint64
	at             time.Time
	hist, units    driver.Batch
	pending        int
	rows, unitRows int
}

func (w *writer) add(ls *scores.LevelScores) error {
	d, err := registry.ParseDate(ls.AsOf)
	if err != nil {
		w.abort()
		return fmt.Errorf("insert score history: %w", err)
	}
	milestone, units := ls.Milestone, ls.Units
	if w.hist == nil {
		if w.hist, err = w.r.db.PrepareBatch(w.ctx, "INSERT INTO "+w.r.db.Table("score_history")+" ("+historyColumns+")"); err != nil {
			return fmt.Errorf("insert score history: %w", err)
		}
		if w.units, err = w.r.db.PrepareBatch(w.ctx, "INSERT INTO "+w.r.db.Table("score_history_units")+" ("+unitColumns+")"); err != nil {
			w.abort()
			return fmt.Errorf("insert score history units: %w", err)
		}
	}
	cat, reg := w.r.engine.Catalog.Version(), w.r.engine.Registry.Version()
	asOf := dateValue(d)
	for _, u := range units {
		var counts [5]uint16
		for _, ind := range u.Indicators {
			if err := w.hist.Append(asOf, uint16(milestone), u.Unit, u.Level, ind.Code, ind.Kind,
				ind.Numerator, ind.Denominator, ind.Value, ind.Target, ind.Expected, ind.Baseline,
				ind.Attainment, ind.Status, ind.Weight, ind.Period, cat, reg, w.version, w.at); err != nil {
				w.abort()
				return fmt.Errorf("insert score history: %w", err)
			}
			switch ind.Status {
			case scores.StatusMet:
				counts[0]++
			case scores.StatusOnTrack:
				counts[1]++
			case scores.StatusAtRisk:
				counts[2]++
			case scores.StatusOffTrack:
				counts[3]++
			case scores.StatusNoData:
				counts[4]++
			}
			w.rows++
			w.pending++
		}
		if err := w.units.Append(asOf, uint16(milestone), u.Unit, u.Name, u.Level, u.Composite, uint32(u.Rank), uint32(u.Of),
			counts[0], counts[1], counts[2], counts[3], counts[4], cat, reg, w.version, w.at); err != nil {
			w.abort()
			return fmt.Errorf("insert score history units: %w", err)
		}
		w.unitRows++
	}
	if w.pending >= flushRows {
		return w.flush()
	}
	return nil
}

// flush sends the batches in hand: the indicator rows first, then the
// units'. A failure leaves rows of this version behind, which the next
// refresh (from the same state) writes again at a higher version.
func (w *writer) flush() error {
	if w.hist == nil {
		return nil
	}
	hist, units := w.hist, w.units
	w.hist, w.units, w.pending = nil, nil, 0
	if err := hist.Send(); err != nil {
		units.Abort()
		return fmt.Errorf("insert score history: %w", err)
	}
	if err := units.Send(); err != nil {
		return fmt.Errorf("insert score history units: %w", err)
	}
	return nil
}

func (w *writer) abort() {
	if w.hist != nil {
		w.hist.Abort()
	}
	if w.units != nil {
		w.units.Abort()
	}
	w.hist, w.units = nil, nil
}

// dateValue is d as a value for a Date column, which takes the UTC day of a time.
func dateValue(d registry.Date) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
}
