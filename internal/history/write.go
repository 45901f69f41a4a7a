package history

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
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
	batch          *chdb.HistoryBatch
	pending        int
	rows, unitRows int
}

func (w *writer) add(ls *scores.LevelScores) error {
	d, err := registry.ParseDate(ls.AsOf)
	if err != nil {
		w.abort()
		return fmt.Errorf("insert score history: %w", err)
	}
	if w.batch == nil {
		if w.batch, err = w.r.db.NewHistoryBatch(w.ctx); err != nil {
			return err
		}
	}
	cat, reg := w.r.engine.Catalog.Version(), w.r.engine.Registry.Version()
	asOf, milestone := dateValue(d), uint16(ls.Milestone)
	for _, u := range ls.Units {
		row := chdb.HistoryUnitRow{AsOf: asOf, Milestone: milestone, Unit: u.Unit, Name: u.Name, Level: u.Level,
			Composite: u.Composite, Rank: uint32(u.Rank), Ranked: uint32(u.Of),
			CatalogVersion: cat, RegistryVersion: reg, Version: w.version, ComputedAt: w.at}
		for _, ind := range u.Indicators {
			if err := w.batch.AddIndicator(chdb.HistoryRow{AsOf: asOf, Milestone: milestone, Unit: u.Unit, Level: u.Level, Indicator: ind.Code, Kind: ind.Kind,
				Numerator: ind.Numerator, Denominator: ind.Denominator, Value: ind.Value, Target: ind.Target, Expected: ind.Expected, Baseline: ind.Baseline,
				Attainment: ind.Attainment, Status: ind.Status, Weight: ind.Weight, Period: ind.Period,
				CatalogVersion: cat, RegistryVersion: reg, Version: w.version, ComputedAt: w.at}); err != nil {
				w.abort()
				return err
			}
			switch ind.Status {
			case scores.StatusMet:
				row.Met++
			case scores.StatusOnTrack:
				row.OnTrack++
			case scores.StatusAtRisk:
				row.AtRisk++
			case scores.StatusOffTrack:
				row.OffTrack++
			case scores.StatusNoData:
				row.NoData++
			}
			w.rows++
			w.pending++
		}
		if err := w.batch.AddUnit(row); err != nil {
			w.abort()
			return err
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
	if w.batch == nil {
		return nil
	}
	b := w.batch
	w.batch, w.pending = nil, 0
	return b.Send()
}

func (w *writer) abort() {
	if w.batch != nil {
		w.batch.Abort()
	}
	w.batch = nil
}

// dateValue is d as a value for a Date column, which takes the UTC day of a time.
func dateValue(d registry.Date) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
}
