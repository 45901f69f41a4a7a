package history

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// fingerprint is what the cells of one month sum to (chdb.DB.MonthPrints):
// a change of any cell of the month changes it.
type fingerprint = chdb.MonthPrint

// readMark returns the commit markers' sums as text: equal texts, same commits.
func readMark(ctx context.Context, db *chdb.DB) (string, error) {
	m, err := db.ReadMarks(ctx)
	if err != nil {
		return "", err
	}
	return m.Key(), nil
}

// printAttempts is how many times readFingerprints asks the copies of
// cds.rollup before it scans cds.rollup: a commit landing during the query
// makes their markers disagree for a moment.
const printAttempts = 2

// readFingerprints returns the fingerprint of the cells of each month, keyed
// by the month's first day: from the month rows of cds.rollup_sums while
// their commit markers agree with cds.rollup's, else by the scan of
// cds.rollup. The two may differ for the same cells (rounding of summed
// rows): a needless recomputation, never a missed one.
func readFingerprints(ctx context.Context, db *chdb.DB) (map[registry.Date]fingerprint, error) {
	var prints map[string]chdb.MonthPrint
	err := chdb.ErrCopiesDisagree
	for try := 0; errors.Is(err, chdb.ErrCopiesDisagree) && try < printAttempts; try++ {
		prints, err = db.MonthPrintsCopies(ctx)
	}
	if errors.Is(err, chdb.ErrCopiesDisagree) {
		prints, err = db.MonthPrints(ctx)
	}
	if err != nil {
		return nil, err
	}
	out := make(map[registry.Date]fingerprint, len(prints))
	for month, f := range prints {
		d, err := registry.ParseDate(month)
		if err != nil {
			return nil, fmt.Errorf("fingerprint cells: month %q: %w", month, err)
		}
		out[d] = f
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
