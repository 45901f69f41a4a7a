package chdb

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The score history's reads from the copies of cds.rollup
// (docs/design.md, "Score snapshots"): BucketCopies is BucketCells and
// MonthPrintsCopies is MonthPrints, each from cds.rollup_sums with the
// commit markers checked in the same query, as SnapshotCopies does.

// copyBucketsSQL reads the commit markers of cds.rollup (src 0) and, from
// cds.rollup_sums, the markers of each grain and the cells up to the last
// of several days, each row summed into the bucket of the first day on or
// after the end of its year, month or day. %[1]s is cds.rollup, %[2]s
// cds.rollup_sums, %[3]s the days' literals, %[4]s the conditions on the
// cells (copyBucketRanges).
const copyBucketsSQL = rollupMarkersSQL + `SELECT grain AS src, indicator, unit, period, dim,
       toUInt32(arrayFirstIndex(x -> x >= multiIf(grain = 1, addDays(addYears(bucket, 1), -1), grain = 2, addDays(addMonths(bucket, 1), -1), bucket), [%[3]s])) AS b,
       sum(num) AS s_num, sum(den) AS s_den, toInt64(sum(n)) AS s_n
FROM %[2]s
WHERE (grain IN (1, 2, 3) AND bucket = toDate(0) AND indicator = ?)
   OR (indicator IN ? AND (%[4]s))
GROUP BY src, indicator, unit, period, dim, b`

// copyBucketRanges is the condition on the rows of cds.rollup_sums that
// sum, without overlap, to every cell up to the last of days (ascending,
// parsed): whole years (grain 1) where no day of days falls inside the
// year before its last day, whole months (grain 2) of the other years
// where none falls inside the month before its last day, and the days
// (grain 3) of the other months up to the last day. Each row then lies in
// one bucket: every day of its year, month or day is in it.
func copyBucketRanges(days []time.Time) string {
	last := days[len(days)-1]
	splitYears, splitMonths := map[string]bool{}, map[string]bool{}
	var years, months []string
	var firstYear, firstMonth string
	for _, d := range days {
		y, m := startOfYear(d), startOfMonth(d)
		if !d.Equal(y.AddDate(1, 0, -1)) && !splitYears[dateString(y)] {
			splitYears[dateString(y)] = true
			years = append(years, dateLiteral(y))
			if firstYear == "" {
				firstYear = dateLiteral(y)
			}
		}
		if !d.Equal(m.AddDate(0, 1, -1)) && !splitMonths[dateString(m)] {
			splitMonths[dateString(m)] = true
			months = append(months, dateLiteral(m))
			if firstMonth == "" {
				firstMonth = dateLiteral(m)
			}
		}
	}
	cond := []string{"(grain = 1 AND bucket > toDate(0) AND bucket <= " + dateLiteral(startOfYear(last))}
	if len(years) > 0 {
		cond[0] += " AND bucket NOT IN (" + strings.Join(years, ", ") + ")"
	}
	cond[0] += ")"
	if len(years) > 0 {
		c := "(grain = 2 AND bucket >= " + firstYear + " AND bucket <= " + dateLiteral(startOfMonth(last)) +
			" AND toStartOfYear(bucket) IN (" + strings.Join(years, ", ") + ")"
		if len(months) > 0 {
			c += " AND bucket NOT IN (" + strings.Join(months, ", ") + ")"
		}
		cond = append(cond, c+")")
	}
	if len(months) > 0 {
		cond = append(cond, "(grain = 3 AND bucket >= "+firstMonth+" AND bucket <= "+dateLiteral(last)+
			" AND toStartOfMonth(bucket) IN ("+strings.Join(months, ", ")+"))")
	}
	return strings.Join(cond, " OR ")
}

func startOfYear(d time.Time) time.Time { return time.Date(d.Year(), 1, 1, 0, 0, 0, 0, time.UTC) }
func startOfMonth(d time.Time) time.Time {
	return time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
}
func dateString(d time.Time) string  { return d.Format(time.DateOnly) }
func dateLiteral(d time.Time) string { return "toDate(" + Literal(dateString(d)) + ")" }

// BucketCopies reads what BucketCells reads, from cds.rollup_sums instead
// of the whole of cds.rollup, in one query that also reads the commit
// markers of cds.rollup and of each grain. It returns ErrCopiesDisagree,
// after fn has seen cells that must then be thrown away, when a grain's
// markers do not sum to what cds.rollup's do. fn may get a cell of a bucket
// more than once (from each grain): the parts add up.
func (db *DB) BucketCopies(ctx context.Context, days []string, codes []string, fn func(c SnapshotCell, bucket int)) (Marks, error) {
	parsed := make([]time.Time, len(days))
	lits := make([]string, len(days))
	for i, d := range days {
		t, err := time.Parse(time.DateOnly, d)
		if err != nil {
			return nil, fmt.Errorf("bucket copies: day %q: %w", d, err)
		}
		if i > 0 && !t.After(parsed[i-1]) {
			return nil, fmt.Errorf("bucket copies: day %s is not after %s", d, days[i-1])
		}
		parsed[i], lits[i] = t, dateLiteral(t)
	}
	q := fmt.Sprintf(copyBucketsSQL, db.Table("rollup"), db.Table("rollup_sums"), strings.Join(lits, ", "), copyBucketRanges(parsed))
	rows, err := db.Query(ctx, q, MarkerIndicator, MarkerIndicator, Set(codes))
	if err != nil {
		return nil, fmt.Errorf("read the copies of cds.rollup: %w", err)
	}
	return scanCopies(rows, func(c SnapshotCell, bucket uint32) {
		if bucket > 0 {
			fn(c, int(bucket))
		}
	})
}

// copyMonthPrintsSQL fingerprints the cells of each month as
// monthPrintsSQL does, from the month rows of cds.rollup_sums (grain 2),
// and reads in the same query the commit markers of cds.rollup (src 0) and
// of that grain (src 2); the fingerprints are src 4, month in k.
const copyMonthPrintsSQL = `SELECT toUInt8(0) AS src, unit AS k, toInt64(sum(n)) AS a, toInt64(0) AS b, toInt64(0) AS c,
       toFloat64(sum(num)) AS fnum, toFloat64(sum(den)) AS fden
FROM %[1]s WHERE indicator = ? GROUP BY unit
UNION ALL
SELECT toUInt8(2) AS src, unit AS k, toInt64(sum(n)) AS a, toInt64(0) AS b, toInt64(0) AS c,
       toFloat64(sum(num)) AS fnum, toFloat64(sum(den)) AS fden
FROM %[2]s WHERE grain = 2 AND bucket = toDate(0) AND indicator = ? GROUP BY unit
UNION ALL
SELECT toUInt8(4) AS src, toString(bucket) AS k,
       sum(toInt64(round(num * 1000)) * w) AS a, sum(toInt64(round(den * 1000)) * w) AS b, sum(n * w) AS c,
       toFloat64(0) AS fnum, toFloat64(0) AS fden
FROM (SELECT bucket, num, den, n, toInt64(cityHash64(indicator, unit, toString(period), dim) %% 2147483647) + 1 AS w
      FROM %[2]s WHERE grain = 2 AND bucket > toDate(0) AND indicator != ?)
GROUP BY k`

// MonthPrintsCopies returns what MonthPrints returns, from the month rows
// of cds.rollup_sums, or ErrCopiesDisagree when their commit markers do
// not sum to what cds.rollup's do. A month row sums cells, so its rounded
// thousandths may differ from the sum of the cells' own: a fingerprint
// from the copy may differ from one from cds.rollup for the same cells,
// which costs the history a needless recomputation, never a missed one.
func (db *DB) MonthPrintsCopies(ctx context.Context) (map[string]MonthPrint, error) {
	q := fmt.Sprintf(copyMonthPrintsSQL, db.Table("rollup"), db.Table("rollup_sums"))
	rows, err := db.Query(ctx, q, MarkerIndicator, MarkerIndicator, MarkerIndicator)
	if err != nil {
		return nil, fmt.Errorf("fingerprint the copies of cds.rollup: %w", err)
	}
	defer rows.Close()
	marks := [2]Marks{{}, {}}
	out := map[string]MonthPrint{}
	for rows.Next() {
		var src uint8
		var k string
		var f MonthPrint
		var num, den float64
		if err := rows.Scan(&src, &k, &f.Num, &f.Den, &f.N, &num, &den); err != nil {
			return nil, fmt.Errorf("fingerprint the copies of cds.rollup: %w", err)
		}
		switch src {
		case 0, 2:
			marks[src/2].Add(k, MarkSum{N: f.Num, Num: num, Den: den})
		default:
			out[k] = f
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fingerprint the copies of cds.rollup: %w", err)
	}
	if !marks[0].Same(marks[1]) {
		return nil, ErrCopiesDisagree
	}
	return out, nil
}
