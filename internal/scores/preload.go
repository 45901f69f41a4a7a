package scores

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// Preloaded returns an Engine that scores each of dates (for any level and
// milestone) from snapshots read in one scan of the cells, as they were at
// that scan: its Store looks its cache up under the commit markers read
// with the cells instead of reading them again, so scoring many dates in a
// row (the score history, package history) costs one scan instead of two
// round trips per date and level, and every answer is of the same commits.
// Its answers are those of e at the time of the scan (the snapshots are
// built by the same code as a Store's reads); a date not among dates is
// read from ClickHouse as usual.
func (e *Engine) Preloaded(ctx context.Context, dates []registry.Date) (*Engine, error) {
	s := e.Store
	base := e.Catalog.BaselineDate()
	// The code lists each level's score asks for, as score builds them.
	var sets []string
	own := map[string]bool{}
	var codes []string
	for _, level := range registry.Levels() {
		var o, r []string
		for _, ind := range e.Catalog.Indicators() {
			if !ind.AppliesTo(level) {
				continue
			}
			if ind.Kind.Reported() {
				r = append(r, ind.Code)
			} else {
				o = append(o, ind.Code)
				own[ind.Code] = true
			}
			if !containsString(codes, ind.Code) {
				codes = append(codes, ind.Code)
			}
		}
		set := strings.Join(o, ",") + ";" + strings.Join(r, ",")
		if !containsString(sets, set) {
			sets = append(sets, set)
		}
	}
	days := append([]registry.Date{base}, dates...)
	sort.Slice(days, func(i, j int) bool { return days[i].Before(days[j]) })
	days = uniqueDates(days)
	lits := make([]string, len(days))
	snaps := make([]*snapshot, len(days))
	for i, d := range days {
		lits[i] = d.String()
		snaps[i] = newSnapshot(d)
	}
	last := days[len(days)-1]
	marks, err := s.db.BucketCells(ctx, lits, codes, func(c chdb.SnapshotCell, bucket int) {
		for _, snap := range snaps[bucket-1:] {
			if own[c.Indicator] {
				snap.addOwn(c.Indicator, c.Unit, c.Period, c.Amount)
			} else {
				snap.addReported(c.Indicator, c.Period, c.Dim, c.Amount)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("preload cells up to %s: %w", last, err)
	}
	m := markOf(marks)
	byDay := make(map[registry.Date]*snapshot, len(snaps))
	for _, snap := range snaps {
		snap.dropUnreported()
		byDay[snap.day] = snap
	}
	pinned := &Store{db: s.db, cache: newSnapCache(max(len(dates)*len(sets), 1)), pinned: &m}
	for _, d := range dates {
		for _, codes := range sets {
			pinned.cache.put(snapKey{mark: m, q: snapQuery{a: d, b: base, codes: codes}}, [2]*snapshot{byDay[d], byDay[base]})
		}
	}
	return &Engine{Catalog: e.Catalog, Registry: e.Registry, Store: pinned, Now: e.Now}, nil
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
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
