package chdb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bacgiang/cds/events"
)

// The statements against the cells of cds.rollup (migrations/0002_rollup.sql):
// the projector's inserts, the scores' snapshot reads and the score
// history's fingerprints. The commit markers' are in marker.go.

// RollupColumns are rows of cds.rollup, column-wise.
type RollupColumns struct {
	Indicator, Unit, Dim []string
	Period               []uint16
	Day                  []time.Time
	Num, Den             []float64
	N                    []int64
}

// Reset empties c and keeps its columns' room for the next rows; the
// strings are dropped.
func (c *RollupColumns) Reset() {
	for _, col := range [][]string{c.Indicator, c.Unit, c.Dim} {
		clear(col)
	}
	c.Indicator, c.Unit, c.Dim = c.Indicator[:0], c.Unit[:0], c.Dim[:0]
	c.Period, c.Day = c.Period[:0], c.Day[:0]
	c.Num, c.Den, c.N = c.Num[:0], c.Den[:0], c.N[:0]
}

// NewRollupColumns returns columns with room for n rows.
func NewRollupColumns(n int) *RollupColumns {
	return &RollupColumns{
		Indicator: make([]string, 0, n), Unit: make([]string, 0, n), Dim: make([]string, 0, n),
		Period: make([]uint16, 0, n), Day: make([]time.Time, 0, n),
		Num: make([]float64, 0, n), Den: make([]float64, 0, n), N: make([]int64, 0, n),
	}
}

// Add appends one row.
func (c *RollupColumns) Add(indicator, unit string, period uint16, dim string, day time.Time, a events.Amount) {
	c.Indicator, c.Unit, c.Dim = append(c.Indicator, indicator), append(c.Unit, unit), append(c.Dim, dim)
	c.Period, c.Day = append(c.Period, period), append(c.Day, day)
	c.Num, c.Den, c.N = append(c.Num, a.Num), append(c.Den, a.Den), append(c.N, a.N)
}

// Len is the number of rows in c.
func (c *RollupColumns) Len() int { return len(c.Indicator) }

// InsertRollup writes c into cds.rollup in one INSERT (one part: the cells
// of a batch and its commit markers land together or not at all) under
// queryID.
func (db *DB) InsertRollup(ctx context.Context, queryID string, c *RollupColumns) error {
	return db.insertColumns(ctx, queryID, "INSERT INTO "+db.Table("rollup")+" (indicator, unit, period, dim, day, num, den, n)",
		[]any{c.Indicator, c.Unit, c.Period, c.Dim, c.Day, c.Num, c.Den, c.N})
}

// SnapshotCell is a cell of SnapshotCells, summed over the days of a bucket.
type SnapshotCell struct {
	Indicator, Unit, Dim string
	Period               uint16
	events.Amount
}

// snapshotsSQL reads two snapshots, at days lo <= hi, and the commit
// markers in one scan, so that all three come from the same parts. Rows are
// grouped by cell without the day, split at lo: upto_lo 1 holds the days up
// to lo, 0 the days after lo up to hi. Own indicators need the stock
// (period 0) and the flows of the two days' years; reported ones every year
// up to hi's. The marker rows (day 0000-00-00, period 0) are read whatever
// their day.
const snapshotsSQL = `SELECT indicator, unit, period, dim, toUInt32(day <= ?) AS upto_lo,
       sum(num), sum(den), toInt64(sum(n))
FROM %s
WHERE indicator = ? OR (day <= ? AND %s)
GROUP BY indicator, unit, period, dim, upto_lo`

// SnapshotCells reads, in one scan, the cells of the own indicators (the
// stock and the flows of lo's and hi's years) and of the reported ones
// (every year up to hi's) up to day hi, and the commit markers. lo and hi
// are days (YYYY-MM-DD), lo <= hi. fn gets each cell summed over the days
// up to lo (uptoLo) or over the days after lo up to hi; the markers come
// back summed. SnapshotCopies reads the same from a few percent of the rows.
func (db *DB) SnapshotCells(ctx context.Context, lo, hi string, loYear, hiYear int, own, reported []string, fn func(c SnapshotCell, uptoLo bool)) (Marks, error) {
	return db.scanCells(ctx, fmt.Sprintf(snapshotsSQL, db.Table("rollup"), cellsWanted),
		[]any{lo, MarkerIndicator, hi, Set(own), loYear, hiYear, Set(reported), hiYear},
		func(c SnapshotCell, uptoLo uint32) { fn(c, uptoLo == 1) })
}

// scanCells runs a query of cells (indicator, unit, period, dim, a UInt32
// group, sums of num, den and n), hands fn each cell and returns the commit
// markers among them, summed.
func (db *DB) scanCells(ctx context.Context, q string, args []any, fn func(c SnapshotCell, group uint32)) (Marks, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	marks := Marks{}
	for rows.Next() {
		var c SnapshotCell
		var group uint32
		if err := rows.Scan(&c.Indicator, &c.Unit, &c.Period, &c.Dim, &group, &c.Num, &c.Den, &c.N); err != nil {
			return nil, err
		}
		if c.Indicator == MarkerIndicator {
			marks.Add(c.Unit, MarkSum{N: c.N, Num: c.Num, Den: c.Den})
			continue
		}
		fn(c, group)
	}
	return marks, rows.Err()
}

// bucketsSQL reads the cells up to the last of several days in one scan,
// each summed into the bucket of the first day on or after its own: the
// snapshot at the i-th day is then the sum of buckets 1..i. The commit
// markers come with them, as in snapshotsSQL.
const bucketsSQL = `SELECT indicator, unit, period, dim, arrayFirstIndex(x -> x >= day, [%s]) AS bucket,
       sum(num), sum(den), toInt64(sum(n))
FROM %s
WHERE indicator = ? OR (day <= toDate(?) AND indicator IN ?)
GROUP BY indicator, unit, period, dim, bucket`

// BucketCells reads the cells of codes up to the last of days (YYYY-MM-DD,
// ascending) and the commit markers in one scan: fn gets each cell summed
// over the days after days[bucket-2] up to days[bucket-1] (bucket 1: every
// day up to days[0]).
func (db *DB) BucketCells(ctx context.Context, days []string, codes []string, fn func(c SnapshotCell, bucket int)) (Marks, error) {
	lits := make([]string, len(days))
	for i, d := range days {
		lits[i] = "toDate(" + Literal(d) + ")"
	}
	return db.scanCells(ctx, fmt.Sprintf(bucketsSQL, strings.Join(lits, ", "), db.Table("rollup")),
		[]any{MarkerIndicator, days[len(days)-1], Set(codes)},
		func(c SnapshotCell, bucket uint32) {
			if bucket > 0 {
				fn(c, int(bucket))
			}
		})
}

// monthPrintsSQL fingerprints the cells of cds.rollup per month of day.
// Each cell's num, den (scaled to thousandths and rounded) and n are
// multiplied by a hash of its key and summed in Int64, which wraps: the
// sums are linear in the cells, so a merge of rows does not change them,
// and a change of any cell changes them (unless two changes cancel under
// the weights, which the hash makes unlikely). Rounding thousandths of a
// merged sum can differ from the sum of rounded parts for figures with
// more decimals; that costs a needless recomputation, never a missed one.
const monthPrintsSQL = `SELECT toString(toStartOfMonth(day)) AS month,
       sum(toInt64(round(num * 1000)) * w), sum(toInt64(round(den * 1000)) * w), sum(n * w)
FROM (SELECT day, num, den, n, toInt64(cityHash64(indicator, unit, toString(period), dim) %% 2147483647) + 1 AS w
      FROM %s WHERE indicator != ?)
GROUP BY month`

// MonthPrint is what the cells of one month sum to under monthPrintsSQL.
type MonthPrint struct{ Num, Den, N int64 }

// MonthPrints returns the fingerprint of the cells of each month, keyed by
// the month's first day (YYYY-MM-DD).
func (db *DB) MonthPrints(ctx context.Context) (map[string]MonthPrint, error) {
	rows, err := db.Query(ctx, fmt.Sprintf(monthPrintsSQL, db.Table("rollup")), MarkerIndicator)
	if err != nil {
		return nil, fmt.Errorf("fingerprint cells: %w", err)
	}
	defer rows.Close()
	out := map[string]MonthPrint{}
	for rows.Next() {
		var month string
		var f MonthPrint
		if err := rows.Scan(&month, &f.Num, &f.Den, &f.N); err != nil {
			return nil, fmt.Errorf("fingerprint cells: %w", err)
		}
		out[month] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fingerprint cells: %w", err)
	}
	return out, nil
}
