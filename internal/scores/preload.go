package scores

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/fold"
	"github.com/bacgiang/cds/internal/registry"
)

// preloadSQL reads the cells up to the last of several days in one scan,
// each summed into the bucket of the first day on or after its own: the
// snapshot at the i-th day is then the sum of buckets 1..i. The commit
// markers come with them, as in cellsSQL.
const preloadSQL = `SELECT indicator, unit, period, dim, arrayFirstIndex(x -> x >= day, [%s]) AS bucket,
       sum(num), sum(den), toInt64(sum(n))
FROM %s
WHERE indicator = ? OR (day <= toDate(?) AND indicator IN ?)
GROUP BY indicator, unit, period, dim, bucket`

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
		lits[i] = "toDate('" + d.String() + "')"
		snaps[i] = newSnapshot(d)
	}
	last := days[len(days)-1]
	rows, err := s.db.Query(ctx, fmt.Sprintf(preloadSQL, strings.Join(lits, ", "), s.db.Table("rollup")),
		chdb.MarkerIndicator, last.String(), set(codes))
	if err != nil {
		return nil, fmt.Errorf("preload cells up to %s: %w", last, err)
	}
	defer rows.Close()
	marks := chdb.Marks{}
	for rows.Next() {
		var ind, unit, dim string
		var period uint16
		var bucket uint32
		var c fold.Amount
		if err := rows.Scan(&ind, &unit, &period, &dim, &bucket, &c.Num, &c.Den, &c.N); err != nil {
			return nil, fmt.Errorf("preload cells up to %s: %w", last, err)
		}
		if ind == chdb.MarkerIndicator {
			marks.Add(unit, chdb.MarkSum{N: c.N, Num: c.Num, Den: c.Den})
			continue
		}
		if bucket == 0 {
			continue
		}
		for _, snap := range snaps[bucket-1:] {
			if own[ind] {
				snap.addOwn(ind, unit, period, c)
			} else {
				snap.addReported(ind, period, dim, c)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("preload cells up to %s: %w", last, err)
	}
	m := mark(marks.Key())
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
