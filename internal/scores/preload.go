package scores

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// Preloaded returns an Engine that scores each of dates (for any level and
// milestone) from snapshots read in one query of the cells, as they were at
// that query: from the copies of cds.rollup (chdb.DB.BucketCopies) while
// their commit markers agree with its own, else by the scan of cds.rollup
// (chdb.DB.BucketCells, counted in ReadStats). Its Store looks its cache up
// under the commit markers read with the cells instead of reading them
// again, so scoring many dates in a row (the score history, package
// history) costs one query instead of two round trips per date and level,
// and every answer is of the same commits.
// Its answers are those of e at the time of the scan (the snapshots are
// built by the same code as a Store's reads); a date not among dates is
// read from ClickHouse as usual.
func (e *Engine) Preloaded(ctx context.Context, dates []registry.Date) (*Engine, error) {
	s := e.Store
	base := e.Catalog.BaselineDate()
	// The indicators of the snapshot pair, as a Store with a cache asks
	// for them (Engine.snapCodes): every level's, one pair for all.
	c := e.catalogIndicators()
	key := codesKey(c.own, c.reported)
	own := make(map[string]bool, len(c.own))
	for _, code := range c.own {
		own[code] = true
	}
	codes := append(slices.Clone(c.own), c.reported...)
	days := append([]registry.Date{base}, dates...)
	sort.Slice(days, func(i, j int) bool { return days[i].Before(days[j]) })
	days = uniqueDates(days)
	lits := make([]string, len(days))
	for i, d := range days {
		lits[i] = d.String()
	}
	last := days[len(days)-1]
	// read builds the snapshots at days from the cells scan hands its
	// callback, each summed into the bucket of the first day on or after
	// its own.
	read := func(scan func(ctx context.Context, days []string, codes []string, fn func(chdb.SnapshotCell, int)) (chdb.Marks, error)) ([]*snapshot, chdb.Marks, error) {
		snaps := make([]*snapshot, len(days))
		for i, d := range days {
			snaps[i] = newSnapshot(d)
		}
		marks, err := scan(ctx, lits, codes, func(c chdb.SnapshotCell, bucket int) {
			for _, snap := range snaps[bucket-1:] {
				if own[c.Indicator] {
					snap.addOwn(c.Indicator, c.Unit, c.Period, c.Amount)
				} else {
					snap.addReported(c.Indicator, c.Period, c.Dim, c.Amount)
				}
			}
		})
		return snaps, marks, err
	}
	// From the copies of cds.rollup while their markers agree with its
	// own, as Store.read does; else by the scan of cds.rollup (counted).
	var (
		snaps []*snapshot
		marks chdb.Marks
		err   error
	)
	disagree := !s.scanOnly
	for try := 0; disagree && try < copyAttempts; try++ {
		snaps, marks, err = read(s.db.BucketCopies)
		disagree = errors.Is(err, chdb.ErrCopiesDisagree)
	}
	switch {
	case s.scanOnly || disagree:
		if disagree {
			s.fallbacks.Add(1)
		}
		snaps, marks, err = read(s.db.BucketCells)
	case err == nil:
		s.copyReads.Add(1)
	}
	if err != nil {
		return nil, fmt.Errorf("preload cells up to %s: %w", last, err)
	}
	m := markOf(marks)
	byDay := make(map[registry.Date]*snapshot, len(snaps))
	for _, snap := range snaps {
		snap.dropUnreported()
		byDay[snap.day] = snap
	}
	pinned := &Store{db: s.db, cache: newSnapCache(max(len(dates), 1)), pinned: &m}
	for _, d := range dates {
		pinned.cache.put(snapKey{mark: m, q: snapQuery{a: d, b: base, codes: key}}, snapPair{snaps: [2]*snapshot{byDay[d], byDay[base]}, at: m, ranked: &rankedMemo{}})
	}
	return &Engine{Catalog: e.Catalog, Registry: e.Registry, Store: pinned, Now: e.Now}, nil
}

func uniqueDates(ds []registry.Date) []registry.Date {
	out := ds[:0]
	for i, d := range ds {
		if i == 0 || d != ds[i-1] {
			out = append(out, d)
		}
	}
	return out
}
