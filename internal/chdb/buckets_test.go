package chdb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
)

// TestBucketCopiesSameAsCells: the buckets read from cds.rollup_sums sum
// to what the scan of cds.rollup gives, for days that split years and
// months or end them, and the month fingerprints of the copy are those of
// cds.rollup (integral cells: no rounding); once the copy disagrees with
// cds.rollup's markers, both refuse.
func TestBucketCopiesSameAsCells(t *testing.T) {
	db := migratedDB(t, "cds_buckets")
	t.Cleanup(func() { _ = db.DropDatabase(context.Background()) }) // before the close
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(14, 15))
	for commit := range 3 {
		c := NewRollupColumns(1001)
		for range 1000 {
			day := time.Date(2022, 11, 20, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(1000))
			ind := []string{"HSCV", "DVC_L4", "NSLD"}[rng.IntN(3)]
			c.Add(ind, fmt.Sprintf("bg-u%d", rng.IntN(5)), uint16(day.Year()-rng.IntN(2)), []string{"", "a"}[rng.IntN(2)], day,
				events.Amount{Num: float64(rng.IntN(3)), Den: 1, N: int64(1 - 2*rng.IntN(2))})
		}
		c.Add(MarkerIndicator, "CDS_EVENTS", 0, "", time.Unix(0, 0).UTC(), events.Amount{N: 1000, Num: float64(commit + 1), Den: 7})
		if err := db.InsertRollup(ctx, "", c); err != nil {
			t.Fatal(err)
		}
	}
	codes := []string{"HSCV", "DVC_L4", "NSLD"}
	type cellKey struct {
		ind, unit, dim string
		period         uint16
		bucket         int
	}
	collect := func(read func(context.Context, []string, []string, func(SnapshotCell, int)) (Marks, error), days []string) (map[cellKey]events.Amount, Marks, error) {
		out := map[cellKey]events.Amount{}
		marks, err := read(ctx, days, codes, func(c SnapshotCell, bucket int) {
			k := cellKey{c.Indicator, c.Unit, c.Dim, c.Period, bucket}
			a := out[k]
			out[k] = events.Amount{Num: a.Num + c.Num, Den: a.Den + c.Den, N: a.N + c.N}
		})
		for k, a := range out {
			if a == (events.Amount{}) {
				delete(out, k)
			}
		}
		return out, marks, err
	}
	for _, days := range [][]string{
		{"2023-12-31", "2024-01-31", "2024-02-29", "2024-03-15", "2024-12-31", "2025-06-30"},
		{"2023-01-15", "2023-01-16", "2025-07-04"},
		{"2024-12-31"},
		{"2021-06-30", "2025-08-17"},
	} {
		want, wantMarks, err := collect(db.BucketCells, days)
		if err != nil {
			t.Fatal(err)
		}
		got, gotMarks, err := collect(db.BucketCopies, days)
		if err != nil {
			t.Fatalf("days %v: %v", days, err)
		}
		if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("days %v: the copies give %d cells, the scan %d; they differ", days, len(got), len(want))
		}
		if gotMarks.Key() != wantMarks.Key() {
			t.Errorf("days %v: markers %s, want %s", days, gotMarks.Key(), wantMarks.Key())
		}
	}
	want, err := db.MonthPrints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.MonthPrintsCopies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("month fingerprints of the copy differ from cds.rollup's:\n%v\n%v", got, want)
	}

	// A commit the copy did not see.
	c := NewRollupColumns(1)
	c.Add(MarkerIndicator, "CDS_EVENTS", 0, "", time.Unix(0, 0).UTC(), events.Amount{N: 1, Num: 1, Den: 1})
	if err := db.Exec(ctx, "DROP TABLE "+db.Table("rollup_sums_view")); err != nil {
		t.Fatal(err)
	}
	if err := db.InsertRollup(ctx, "", c); err != nil {
		t.Fatal(err)
	}
	if _, _, err := collect(db.BucketCopies, []string{"2024-12-31"}); !errors.Is(err, ErrCopiesDisagree) {
		t.Errorf("BucketCopies with a commit missing from the copy: %v, want ErrCopiesDisagree", err)
	}
	if _, err := db.MonthPrintsCopies(ctx); !errors.Is(err, ErrCopiesDisagree) {
		t.Errorf("MonthPrintsCopies with a commit missing from the copy: %v, want ErrCopiesDisagree", err)
	}
}
