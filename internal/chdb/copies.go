package chdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The pre-aggregated copy of cds.rollup (migrations 0015–0016;
// docs/design.md, "Score snapshots"): cds.rollup_sums holds every cell and
// commit marker three times, summed per year (grain 1), per month (grain 2)
// and per day (grain 3), with bucket the first day of the year or month, or
// the day. A materialized view fills it within each INSERT into cds.rollup,
// so the markers of each grain sum to what cds.rollup's do for as long as
// every commit reached it. A snapshot read from it checks that in the same
// query, and is refused (ErrCopiesDisagree) when they do not; the
// projector's recovery refills it (RefillCopies).

// Grains of cds.rollup_sums.
const (
	grainYear  = 1
	grainMonth = 2
	grainDay   = 3
)

// grains are the grains of cds.rollup_sums, each a copy of cds.rollup.
var grains = []uint8{grainYear, grainMonth, grainDay}

// rollupSumsFill fills cds.rollup_sums from cds.rollup as its view does;
// %s is cds.rollup_sums, then cds.rollup, and the condition on indicator.
const rollupSumsFill = `INSERT INTO %s (grain, bucket, indicator, unit, period, dim, num, den, n)
SELECT arrayJoin([1, 2, 3]) AS grain,
       multiIf(grain = 1, toStartOfYear(day), grain = 2, toStartOfMonth(day), day) AS bucket,
       indicator, unit, period, dim, sum(num), sum(den), sum(n)
FROM %s WHERE %s
GROUP BY grain, bucket, indicator, unit, period, dim`

// ErrCopiesDisagree is returned by SnapshotCopies when the commit markers
// of a grain of cds.rollup_sums do not sum to what cds.rollup's do: a
// commit landed while the query ran, or the copy lost or gained rows. The
// caller reads cds.rollup.
var ErrCopiesDisagree = errors.New("the copies of cds.rollup disagree with its commit markers")

// copySnapshotsSQL reads, in one query, the commit markers of cds.rollup
// (src 0) and, from cds.rollup_sums, the two snapshots at days lo <= hi with
// the markers of each grain (src: the grain). upto_lo is 1 for what lo's
// snapshot holds, 0 for what only hi's holds, as in snapshotsSQL:
//   - years: those before lo's (1) and those strictly between lo's and
//     hi's (0);
//   - months: those of lo's and hi's years before hi's month but lo's
//     month: before lo's (1), after it (0);
//   - days: those of lo's and hi's months up to hi: up to lo (1), after it
//     (0).
//
// Year lo's year stands in hi's snapshot as its months and lo's month as its
// days, so every row counts for lo and hi or for hi alone. The marker rows
// are in bucket 1970-01-01, first in each grain.
const copySnapshotsSQL = rollupMarkersSQL + marksCopySQL + `SELECT grain AS src, indicator, unit, period, dim,
       toUInt32(multiIf(grain = 1, bucket < toStartOfYear(toDate(?)), grain = 2, bucket < toStartOfMonth(toDate(?)), bucket <= toDate(?))) AS upto_lo,
       sum(num) AS s_num, sum(den) AS s_den, toInt64(sum(n)) AS s_n
FROM %[2]s
WHERE (grain IN (1, 2, 3) AND bucket = toDate(0) AND indicator = ?)
   OR (grain = 1
       AND (bucket < toStartOfYear(toDate(?)) OR (bucket > toStartOfYear(toDate(?)) AND bucket < toStartOfYear(toDate(?))))
       AND %[3]s)
   OR (grain = 2
       AND ((bucket >= toStartOfYear(toDate(?)) AND bucket < addYears(toStartOfYear(toDate(?)), 1))
            OR (bucket >= toStartOfYear(toDate(?)) AND bucket < toStartOfMonth(toDate(?))))
       AND bucket < toStartOfMonth(toDate(?)) AND bucket != toStartOfMonth(toDate(?))
       AND %[3]s)
   OR (grain = 3
       AND ((bucket >= toStartOfMonth(toDate(?)) AND bucket < addMonths(toStartOfMonth(toDate(?)), 1))
            OR bucket >= toStartOfMonth(toDate(?)))
       AND bucket <= toDate(?)
       AND %[3]s)
GROUP BY src, indicator, unit, period, dim, upto_lo`

// rollupMarkersSQL opens a query of the copies (scanCopies) with the commit
// markers of cds.rollup (%[1]s), src 0, summed per unit; the copies' rows
// follow it, after its UNION ALL, with their tag in the sixth column.
const rollupMarkersSQL = `SELECT toUInt8(0) AS src, indicator, unit, toUInt16(0) AS period, '' AS dim, toUInt32(0) AS tag,
       sum(num) AS s_num, sum(den) AS s_den, toInt64(sum(n)) AS s_n
FROM %[1]s
WHERE indicator = ?
GROUP BY indicator, unit
UNION ALL
`

// marksCopySQL follows rollupMarkersSQL in copySnapshotsSQL with the
// commit markers of their copy cds.rollup_marks (%[4]s), src srcMarksCopy,
// so that the read that checks the copies of the cells against cds.rollup
// checks the markers' copy too (SnapshotCopies).
const marksCopySQL = `SELECT toUInt8(4) AS src, ? AS indicator, unit, toUInt16(0) AS period, '' AS dim, toUInt32(0) AS tag,
       sum(num) AS s_num, sum(den) AS s_den, toInt64(sum(n)) AS s_n
FROM %[4]s
GROUP BY unit
UNION ALL
`

// srcMarksCopy is the src of cds.rollup_marks' rows in a query of the
// copies (marksCopySQL, copyMarksSQL).
const srcMarksCopy = 4

// cellsWanted is the condition on the cells of a snapshot pair shared by
// snapshotsSQL and copySnapshotsSQL: own indicators with the stock and the
// flows of lo's and hi's years, reported ones with every year up to hi's.
const cellsWanted = `((indicator IN ? AND period IN (0, ?, ?)) OR (indicator IN ? AND period > 0 AND period <= ?))`

// SnapshotCopies reads what SnapshotCells reads, from cds.rollup_sums
// instead of the whole of cds.rollup, in one query that also reads the
// commit markers of cds.rollup and of each grain. It returns
// ErrCopiesDisagree, after fn has seen cells that must then be thrown
// away, when a grain's markers do not sum to what cds.rollup's do. fn gets
// a cell possibly more than once (from each grain): the parts add up.
// marksCopy reports whether the copy of the markers, cds.rollup_marks
// (ReadMarksCopy), summed to what cds.rollup's markers did in the same
// query, whether the grains agreed or not (false on another error).
func (db *DB) SnapshotCopies(ctx context.Context, lo, hi string, loYear, hiYear int, own, reported []string, fn func(c SnapshotCell, uptoLo bool)) (marks Marks, marksCopy bool, err error) {
	q := fmt.Sprintf(copySnapshotsSQL, db.Table("rollup"), db.Table("rollup_sums"), cellsWanted, db.Table("rollup_marks"))
	want := []any{Set(own), loYear, hiYear, Set(reported), hiYear}
	args := []any{MarkerIndicator, MarkerIndicator, lo, lo, lo, MarkerIndicator}
	args = append(args, lo, lo, hi)
	args = append(args, want...)
	args = append(args, lo, lo, hi, hi, hi, lo)
	args = append(args, want...)
	args = append(args, lo, lo, hi, hi)
	args = append(args, want...)
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("read the copies of cds.rollup: %w", err)
	}
	var all [5]Marks
	marks, err = scanCopiesMarks(rows, &all, func(c SnapshotCell, uptoLo uint32) { fn(c, uptoLo == 1) })
	return marks, all[0] != nil && all[0].Same(all[srcMarksCopy]), err
}

// scanCopies reads the rows of a query of the copies (src, indicator,
// unit, period, dim, a tag, num, den, n): the commit markers of cds.rollup
// (src 0) and of each grain (src grain) are summed, every other row goes to
// fn with its tag. It returns cds.rollup's markers, or ErrCopiesDisagree
// when a grain's do not sum to them (fn's cells must then be thrown away).
// It closes rows.
func scanCopies(rows driver.Rows, fn func(c SnapshotCell, tag uint32)) (Marks, error) {
	var marks [5]Marks
	return scanCopiesMarks(rows, &marks, fn)
}

// scanCopiesMarks is scanCopies that leaves in marks the markers of each
// src it read (src 4: cds.rollup_marks, marksCopySQL), once rows are read
// whole.
func scanCopiesMarks(rows driver.Rows, marks *[5]Marks, fn func(c SnapshotCell, tag uint32)) (Marks, error) {
	defer rows.Close()
	read := [5]Marks{{}, {}, {}, {}, {}}
	for rows.Next() {
		var src uint8
		var c SnapshotCell
		var tag uint32
		if err := rows.Scan(&src, &c.Indicator, &c.Unit, &c.Period, &c.Dim, &tag, &c.Num, &c.Den, &c.N); err != nil {
			return nil, fmt.Errorf("read the copies of cds.rollup: %w", err)
		}
		if c.Indicator == MarkerIndicator {
			read[src%5].Add(c.Unit, MarkSum{N: c.N, Num: c.Num, Den: c.Den})
			continue
		}
		fn(c, tag)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the copies of cds.rollup: %w", err)
	}
	*marks = read
	for _, g := range grains {
		if !read[0].Same(read[g]) {
			return nil, ErrCopiesDisagree
		}
	}
	return read[0], nil
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

// copyMarksSQL reads the commit markers of cds.rollup (src 0), of each
// grain of cds.rollup_sums and of their copy cds.rollup_marks (src
// srcMarksCopy) in one query.
const copyMarksSQL = `SELECT toUInt8(0) AS src, unit, toInt64(sum(n)) AS s_n, sum(num) AS s_num, sum(den) AS s_den FROM %[1]s WHERE indicator = ? GROUP BY unit
UNION ALL
SELECT grain AS src, unit, toInt64(sum(n)) AS s_n, sum(num) AS s_num, sum(den) AS s_den FROM %[2]s
WHERE grain IN (1, 2, 3) AND bucket = toDate(0) AND indicator = ? GROUP BY grain, unit
UNION ALL
SELECT toUInt8(4) AS src, unit, toInt64(sum(n)) AS s_n, sum(num) AS s_num, sum(den) AS s_den FROM %[3]s GROUP BY unit`

// CopiesAgree reports whether the commit markers of each grain of
// cds.rollup_sums and their copy cds.rollup_marks sum to what cds.rollup's
// do, read in one query.
func (db *DB) CopiesAgree(ctx context.Context) (bool, error) {
	rows, err := db.Query(ctx, fmt.Sprintf(copyMarksSQL, db.Table("rollup"), db.Table("rollup_sums"), db.Table("rollup_marks")), MarkerIndicator, MarkerIndicator)
	if err != nil {
		return false, fmt.Errorf("read the markers of the copies of cds.rollup: %w", err)
	}
	defer rows.Close()
	marks := [5]Marks{{}, {}, {}, {}, {}}
	for rows.Next() {
		var src uint8
		var unit string
		var s MarkSum
		if err := rows.Scan(&src, &unit, &s.N, &s.Num, &s.Den); err != nil {
			return false, fmt.Errorf("read the markers of the copies of cds.rollup: %w", err)
		}
		marks[src%5].Add(unit, s)
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read the markers of the copies of cds.rollup: %w", err)
	}
	for _, g := range []uint8{grainYear, grainMonth, grainDay, srcMarksCopy} {
		if !marks[0].Same(marks[g]) {
			return false, nil
		}
	}
	return true, nil
}

// TruncateCopies empties cds.rollup_sums and cds.rollup_marks.
func (db *DB) TruncateCopies(ctx context.Context) error {
	if err := db.truncate(ctx, "rollup_marks"); err != nil {
		return err
	}
	return db.truncate(ctx, "rollup_sums")
}

// rollupMarksFill fills cds.rollup_marks from cds.rollup's markers as its
// view does; %s is cds.rollup_marks, then cds.rollup.
const rollupMarksFill = `INSERT INTO %s (unit, dim, num, den, n)
SELECT unit, dim, sum(num), sum(den), sum(n) FROM %s WHERE indicator = ? GROUP BY unit, dim`

// RefillCopies empties cds.rollup_sums and cds.rollup_marks and fills them
// from cds.rollup: the cells first, then the commit markers, so that a
// reader sees the markers agree only once every cell is in. Nothing else
// may write cds.rollup meanwhile (the projector calls it in its recovery).
func (db *DB) RefillCopies(ctx context.Context) error {
	if err := db.TruncateCopies(ctx); err != nil {
		return err
	}
	for _, cond := range []string{"indicator != ?", "indicator = ?"} {
		if err := db.Exec(ctx, fmt.Sprintf(rollupSumsFill, db.Table("rollup_sums"), db.Table("rollup"), cond), MarkerIndicator); err != nil {
			return fmt.Errorf("fill rollup_sums from cds.rollup: %w", err)
		}
	}
	if err := db.Exec(ctx, fmt.Sprintf(rollupMarksFill, db.Table("rollup_marks"), db.Table("rollup")), MarkerIndicator); err != nil {
		return fmt.Errorf("fill rollup_marks from cds.rollup: %w", err)
	}
	return nil
}
