package scores

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/bacgiang/cds/internal/catalog"
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

// Preload reads, in one scan of the cells, the snapshots that Level and Unit
// need to score each of dates (and the baseline's), and keeps them in the
// Store's cache under the commit markers read with them, so that scoring
// many dates in a row (the score history, package history) costs one scan
// instead of one per date and level. It changes no answer: an entry is used
// only while the markers stand still, as for any entry, and a date whose
// entry was evicted or not preloaded is read as usual. The cache should hold
// two entries per date (the province's indicators and the others'). Without
// a cache it does nothing.
func (e *Engine) Preload(ctx context.Context, dates []registry.Date) error {
	s := e.Store
	if s.cache == nil || len(dates) == 0 {
		return nil
	}
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
			switch ind.Kind {
			case catalog.KindFlowRatio, catalog.KindStockRatio, catalog.KindCount:
				o = append(o, ind.Code)
				own[ind.Code] = true
			default:
				r = append(r, ind.Code)
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
		watermarkIndicator, last.String(), set(codes))
	if err != nil {
		return fmt.Errorf("preload cells up to %s: %w", last, err)
	}
	defer rows.Close()
	marks := markSums{}
	for rows.Next() {
		var ind, unit, dim string
		var period uint16
		var bucket uint32
		var c fold.Amount
		if err := rows.Scan(&ind, &unit, &period, &dim, &bucket, &c.Num, &c.Den, &c.N); err != nil {
			return fmt.Errorf("preload cells up to %s: %w", last, err)
		}
		if ind == watermarkIndicator {
			marks.add(unit, c)
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
		return fmt.Errorf("preload cells up to %s: %w", last, err)
	}
	m := marks.mark()
	byDay := make(map[registry.Date]*snapshot, len(snaps))
	for _, snap := range snaps {
		snap.dropUnreported()
		byDay[snap.day] = snap
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	for _, d := range dates {
		for _, codes := range sets {
			s.cache.put(snapKey{mark: m, q: snapQuery{a: d, b: base, codes: codes}}, [2]*snapshot{byDay[d], byDay[base]})
		}
	}
	return nil
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
