package projtest

import (
	"context"
	"fmt"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/fold"
)

// copyCellsSQL reads the cells of cds.rollup, or of one grain of
// cds.rollup_sums, summed per cell and per bucket of the grain (%s: the
// day's year or month, the day, or bucket), without the commit markers.
const copyCellsSQL = `SELECT indicator, unit, period, dim, %s AS d, sum(num), sum(den), sum(n)
FROM %s WHERE indicator != ? AND %s GROUP BY indicator, unit, period, dim, d`

// CopyDiffs compares the copy of cds.rollup the scores read,
// cds.rollup_sums (internal/chdb/copies.go), with cds.rollup: the commit
// markers of each grain must agree, and the cells of grains 1, 2 and 3 must
// be those of cds.rollup summed per year, per month and per day (within
// 1e-9). It returns the differences, the first limit of each grain.
func CopyDiffs(ctx context.Context, db *chdb.DB, limit int) ([]string, error) {
	agree, err := db.CopiesAgree(ctx)
	if err != nil {
		return nil, fmt.Errorf("projtest: %w", err)
	}
	if !agree {
		return []string{"the commit markers of the copies of cds.rollup disagree with its own"}, nil
	}
	var out []string
	for _, c := range []struct{ name, bucket, grain string }{
		{"years", "toStartOfYear(day)", "grain = 1"},
		{"months", "toStartOfMonth(day)", "grain = 2"},
		{"days", "day", "grain = 3"},
	} {
		want, err := copyCells(ctx, db, c.bucket, "rollup", "1")
		if err != nil {
			return nil, err
		}
		got, err := copyCells(ctx, db, "bucket", "rollup_sums", c.grain)
		if err != nil {
			return nil, err
		}
		for _, d := range DiffCells(got, want, limit) {
			out = append(out, "rollup_sums "+c.name+": "+d)
		}
	}
	return out, nil
}

func copyCells(ctx context.Context, db *chdb.DB, bucket, table, cond string) (map[fold.Cell]events.Amount, error) {
	return queryCells(ctx, db, "cells of "+table, true, fmt.Sprintf(copyCellsSQL, bucket, db.Table(table), cond), chdb.MarkerIndicator)
}
