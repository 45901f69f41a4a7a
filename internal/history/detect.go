package history

import (
	"context"
	"fmt"
	"sort"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// fingerprintSQL fingerprints the cells of cds.rollup per month of day. Each
// cell's num, den (scaled to thousandths and rounded) and n are multiplied by
// a hash of its key and summed in Int64, which wraps: the sums are linear in
// the cells, so a merge of rows does not change them, and a change of any
// cell changes them (unless two changes cancel under the weights, which the
// hash makes unlikely). Rounding thousandths of a merged sum can differ from
// the sum of rounded parts for figures with more decimals; that costs a
// needless recomputation, never a missed one.
const fingerprintSQL = `SELECT toString(toStartOfMonth(day)) AS month,
       sum(toInt64(round(num * 1000)) * w), sum(toInt64(round(den * 1000)) * w), sum(n * w)
FROM (SELECT day, num, den, n, toInt64(cityHash64(indicator, unit, toString(period), dim) %% 2147483647) + 1 AS w
      FROM %s WHERE indicator != ?)
GROUP BY month`

// fingerprint is what the cells of one month sum to under fingerprintSQL.
type fingerprint struct{ num, den, n int64 }

// readMark returns the commit markers' sums as text: equal texts, same commits.
func readMark(ctx context.Context, db *chdb.DB) (string, error) {
	m, err := db.ReadMarks(ctx)
	if err != nil {
		return "", err
	}
	return m.Key(), nil
}

// readFingerprints returns the fingerprint of the cells of each month, keyed
// by the month's first day.
func readFingerprints(ctx context.Context, db *chdb.DB) (map[registry.Date]fingerprint, error) {
	rows, err := db.Query(ctx, fmt.Sprintf(fingerprintSQL, db.Table("rollup")), chdb.MarkerIndicator)
	if err != nil {
		return nil, fmt.Errorf("fingerprint cells: %w", err)
	}
	defer rows.Close()
	out := map[registry.Date]fingerprint{}
	for rows.Next() {
		var month string
		var f fingerprint
		if err := rows.Scan(&month, &f.num, &f.den, &f.n); err != nil {
			return nil, fmt.Errorf("fingerprint cells: %w", err)
		}
		d, err := registry.ParseDate(month)
		if err != nil {
			return nil, fmt.Errorf("fingerprint cells: month %q: %w", month, err)
		}
		out[d] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fingerprint cells: %w", err)
	}
	return out, nil
}

// firstChange returns the first day of the earliest month whose fingerprint
// differs between a and b (a month present in only one of them differs), and
// false when none does.
func firstChange(a, b map[registry.Date]fingerprint) (registry.Date, bool) {
	var changed []registry.Date
	for m, f := range a {
		if g, ok := b[m]; !ok || g != f {
			changed = append(changed, m)
		}
	}
	for m := range b {
		if _, ok := a[m]; !ok {
			changed = append(changed, m)
		}
	}
	if len(changed) == 0 {
		return registry.Date{}, false
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].Before(changed[j]) })
	return changed[0], true
}

// monthEnd returns the last day of d's month.
func monthEnd(d registry.Date) registry.Date {
	return registry.NewDate(d.Year(), d.Month()+1, 0)
}

// isMonthEnd reports whether d is the last day of its month.
func isMonthEnd(d registry.Date) bool { return monthEnd(d) == d }

// points returns the dates of the history: every month-end from baseline up
// to today, then today when it is not a month-end.
func points(baseline, today registry.Date) []registry.Date {
	var out []registry.Date
	for m := monthEnd(baseline); !m.After(today); m = monthEnd(m.AddDays(1)) {
		out = append(out, m)
	}
	if !isMonthEnd(today) && !today.Before(baseline) {
		out = append(out, today)
	}
	return out
}
