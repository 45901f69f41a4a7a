package chdb

import (
	"context"
	"errors"
	"fmt"
)

// The pre-aggregated copies of cds.rollup (migrations 0015–0020;
// docs/design.md, "Score snapshots"): cds.rollup_years, the cells summed
// per year; cds.rollup_months, the cells summed per month, ordered by month
// first; and cds.rollup_days, the cells ordered by month first. Three
// materialized views fill them within each INSERT into cds.rollup, commit
// markers included, so the markers of each copy sum to what cds.rollup's
// do for as long as every commit reached it. A snapshot read from them
// checks that in the same query, and is refused (ErrCopiesDisagree) when
// they do not; the projector's recovery refills them (RefillCopies).

// rollupCopies are the copies, in the order they are emptied and filled.
var rollupCopies = []string{"rollup_years", "rollup_months", "rollup_days"}

// copyFills are the INSERT … SELECT that fill each copy from cds.rollup;
// %s is the copy, then cds.rollup, and the condition on indicator.
var copyFills = map[string]string{
	"rollup_years": `INSERT INTO %s (indicator, unit, period, dim, year, num, den, n)
SELECT indicator, unit, period, dim, toStartOfYear(day) AS year, sum(num), sum(den), sum(n)
FROM %s WHERE %s GROUP BY indicator, unit, period, dim, year`,
	"rollup_months": `INSERT INTO %s (month, indicator, unit, period, dim, num, den, n)
SELECT toStartOfMonth(day) AS month, indicator, unit, period, dim, sum(num), sum(den), sum(n)
FROM %s WHERE %s GROUP BY month, indicator, unit, period, dim`,
	"rollup_days": `INSERT INTO %s (month, indicator, unit, period, dim, day, num, den, n)
SELECT toStartOfMonth(day) AS month, indicator, unit, period, dim, day, sum(num), sum(den), sum(n)
FROM %s WHERE %s GROUP BY month, indicator, unit, period, dim, day`,
}

// ErrCopiesDisagree is returned by SnapshotCopies when the commit markers
// of a copy do not sum to what cds.rollup's do: a commit landed while the
// query ran, or a copy lost or gained rows. The caller reads cds.rollup.
var ErrCopiesDisagree = errors.New("the copies of cds.rollup disagree with its commit markers")

// copySnapshotsSQL reads, in one query, the commit markers of cds.rollup
// (src 0) and the two snapshots at days lo <= hi with the markers of each
// copy. upto_lo is 1 for what lo's snapshot holds, 0 for what only hi's
// holds, as in snapshotsSQL:
//   - rollup_years (src 1): the years before lo's (1) and those strictly
//     between lo's and hi's (0);
//   - rollup_months (src 2): the months of lo's and hi's years before hi's
//     month but lo's month: before lo's (1), after it (0);
//   - rollup_days (src 3): the days of lo's and hi's months up to hi: up to
//     lo (1), after it (0).
//
// Year lo's year stands in hi's snapshot as its months and lo's month as its
// days, so every row counts for lo and hi or for hi alone. The marker rows
// of rollup_months and rollup_days are in month toStartOfMonth(0), which
// sorts first.
const copySnapshotsSQL = `SELECT toUInt8(0) AS src, indicator, unit, toUInt16(0) AS period, '' AS dim, toUInt32(0) AS upto_lo,
       sum(num) AS s_num, sum(den) AS s_den, toInt64(sum(n)) AS s_n
FROM %[1]s
WHERE indicator = ?
GROUP BY indicator, unit
UNION ALL
SELECT toUInt8(1) AS src, indicator, unit, period, dim, toUInt32(year < toStartOfYear(toDate(?))) AS upto_lo,
       sum(num) AS s_num, sum(den) AS s_den, toInt64(sum(n)) AS s_n
FROM %[2]s
WHERE indicator = ?
   OR ((year < toStartOfYear(toDate(?))
        OR (year > toStartOfYear(toDate(?)) AND year < toStartOfYear(toDate(?))))
       AND %[5]s)
GROUP BY indicator, unit, period, dim, upto_lo
UNION ALL
SELECT toUInt8(2) AS src, indicator, unit, period, dim, toUInt32(month < toStartOfMonth(toDate(?))) AS upto_lo,
       sum(num) AS s_num, sum(den) AS s_den, toInt64(sum(n)) AS s_n
FROM %[3]s
WHERE (month = toStartOfMonth(toDate(0)) AND indicator = ?)
   OR (((month >= toStartOfYear(toDate(?)) AND month < addYears(toStartOfYear(toDate(?)), 1))
        OR (month >= toStartOfYear(toDate(?)) AND month < toStartOfMonth(toDate(?))))
       AND month < toStartOfMonth(toDate(?)) AND month != toStartOfMonth(toDate(?))
       AND %[5]s)
GROUP BY indicator, unit, period, dim, upto_lo
UNION ALL
SELECT toUInt8(3) AS src, indicator, unit, period, dim, toUInt32(day <= toDate(?)) AS upto_lo,
       sum(num) AS s_num, sum(den) AS s_den, toInt64(sum(n)) AS s_n
FROM %[4]s
WHERE (month = toStartOfMonth(toDate(0)) AND indicator = ?)
   OR (month IN (toStartOfMonth(toDate(?)), toStartOfMonth(toDate(?))) AND day <= toDate(?) AND %[5]s)
GROUP BY indicator, unit, period, dim, upto_lo`

// cellsWanted is the condition on the cells of a snapshot pair shared by
// snapshotsSQL and copySnapshotsSQL: own indicators with the stock and the
// flows of lo's and hi's years, reported ones with every year up to hi's.
const cellsWanted = `((indicator IN ? AND period IN (0, ?, ?)) OR (indicator IN ? AND period > 0 AND period <= ?))`

// SnapshotCopies reads what SnapshotCells reads, from the copies of
// cds.rollup instead of the whole table, in one query that also reads the
// commit markers of cds.rollup and of each copy. It returns
// ErrCopiesDisagree, after fn has seen cells that must then be thrown
// away, when a copy's markers do not sum to what cds.rollup's do. fn gets
// a cell possibly more than once (from each copy): the parts add up.
func (db *DB) SnapshotCopies(ctx context.Context, lo, hi string, loYear, hiYear int, own, reported []string, fn func(c SnapshotCell, uptoLo bool)) (Marks, error) {
	q := fmt.Sprintf(copySnapshotsSQL, db.Table("rollup"), db.Table("rollup_years"), db.Table("rollup_months"), db.Table("rollup_days"), cellsWanted)
	want := []any{Set(own), loYear, hiYear, Set(reported), hiYear}
	args := []any{MarkerIndicator}
	args = append(args, lo, MarkerIndicator, lo, lo, hi)
	args = append(args, want...)
	args = append(args, lo, MarkerIndicator, lo, lo, hi, hi, hi, lo)
	args = append(args, want...)
	args = append(args, lo, MarkerIndicator, lo, hi, hi)
	args = append(args, want...)
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read the copies of cds.rollup: %w", err)
	}
	defer rows.Close()
	marks := [4]Marks{{}, {}, {}, {}}
	for rows.Next() {
		var src uint8
		var c SnapshotCell
		var uptoLo uint32
		if err := rows.Scan(&src, &c.Indicator, &c.Unit, &c.Period, &c.Dim, &uptoLo, &c.Num, &c.Den, &c.N); err != nil {
			return nil, fmt.Errorf("read the copies of cds.rollup: %w", err)
		}
		if c.Indicator == MarkerIndicator {
			marks[src%4].Add(c.Unit, MarkSum{N: c.N, Num: c.Num, Den: c.Den})
			continue
		}
		fn(c, uptoLo == 1)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the copies of cds.rollup: %w", err)
	}
	for _, m := range marks[1:] {
		if !marks[0].Same(m) {
			return nil, ErrCopiesDisagree
		}
	}
	return marks[0], nil
}

// Same reports whether m and o say the same: equal sums for every unit,
// a unit whose sums are all zero counting as absent (SummingMergeTree drops
// such rows when it merges, in each table in its own time).
func (m Marks) Same(o Marks) bool {
	zero := MarkSum{}
	for u, s := range m {
		if s != o[u] {
			return false
		}
	}
	for u, s := range o {
		if _, ok := m[u]; !ok && s != zero {
			return false
		}
	}
	return true
}

// copyMarksSQL reads the commit markers of cds.rollup (src 0) and of each
// copy in one query.
const copyMarksSQL = `SELECT toUInt8(0) AS src, unit, toInt64(sum(n)) AS s_n, sum(num) AS s_num, sum(den) AS s_den FROM %[1]s WHERE indicator = ? GROUP BY unit
UNION ALL
SELECT toUInt8(1) AS src, unit, toInt64(sum(n)) AS s_n, sum(num) AS s_num, sum(den) AS s_den FROM %[2]s WHERE indicator = ? GROUP BY unit
UNION ALL
SELECT toUInt8(2) AS src, unit, toInt64(sum(n)) AS s_n, sum(num) AS s_num, sum(den) AS s_den FROM %[3]s WHERE month = toStartOfMonth(toDate(0)) AND indicator = ? GROUP BY unit
UNION ALL
SELECT toUInt8(3) AS src, unit, toInt64(sum(n)) AS s_n, sum(num) AS s_num, sum(den) AS s_den FROM %[4]s WHERE month = toStartOfMonth(toDate(0)) AND indicator = ? GROUP BY unit`

// CopiesAgree reports whether the commit markers of each copy of
// cds.rollup sum to what cds.rollup's do, read in one query.
func (db *DB) CopiesAgree(ctx context.Context) (bool, error) {
	rows, err := db.Query(ctx, fmt.Sprintf(copyMarksSQL, db.Table("rollup"), db.Table("rollup_years"), db.Table("rollup_months"), db.Table("rollup_days")),
		MarkerIndicator, MarkerIndicator, MarkerIndicator, MarkerIndicator)
	if err != nil {
		return false, fmt.Errorf("read the markers of the copies of cds.rollup: %w", err)
	}
	defer rows.Close()
	marks := [4]Marks{{}, {}, {}, {}}
	for rows.Next() {
		var src uint8
		var unit string
		var s MarkSum
		if err := rows.Scan(&src, &unit, &s.N, &s.Num, &s.Den); err != nil {
			return false, fmt.Errorf("read the markers of the copies of cds.rollup: %w", err)
		}
		marks[src%4].Add(unit, s)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read the markers of the copies of cds.rollup: %w", err)
	}
	return marks[0].Same(marks[1]) && marks[0].Same(marks[2]) && marks[0].Same(marks[3]), nil
}

// TruncateCopies empties the copies of cds.rollup.
func (db *DB) TruncateCopies(ctx context.Context) error {
	for _, t := range rollupCopies {
		if err := db.Exec(ctx, "TRUNCATE TABLE "+db.Table(t)); err != nil {
			return fmt.Errorf("truncate %s: %w", t, err)
		}
	}
	return nil
}

// RefillCopies empties the copies of cds.rollup and fills them from it:
// the cells first, then the commit markers, so that a reader sees the
// copies' markers agree only once every cell is in. Nothing else may write
// cds.rollup meanwhile (the projector calls it in its recovery).
func (db *DB) RefillCopies(ctx context.Context) error {
	if err := db.TruncateCopies(ctx); err != nil {
		return err
	}
	for _, t := range rollupCopies {
		for _, cond := range []string{"indicator != ?", "indicator = ?"} {
			q := fmt.Sprintf(copyFills[t], db.Table(t), db.Table("rollup"), cond)
			if err := db.Exec(ctx, q, MarkerIndicator); err != nil {
				return fmt.Errorf("fill %s from cds.rollup: %w", t, err)
			}
		}
	}
	return nil
}
