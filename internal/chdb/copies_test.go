package chdb

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chserver/chtest"
)

// BenchmarkCommitCopies measures what the views that fill the copies of
// cds.rollup add to a commit: the same INSERT of 2,000 cells and a marker
// into a database without the views, one with the view of cds.rollup_sums
// only (before branch h26r) and one with it and the view of
// cds.rollup_marks, in turn (ns/op is the three).
//
//	go test -run '^$' -bench CommitCopies -benchtime 100x ./internal/chdb
func BenchmarkCommitCopies(b *testing.B) {
	srv := chtest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	open := func(name string, drop ...string) *DB {
		db, err := Open(ctx, Config{Addr: srv.Addr(), Database: name})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		for _, v := range drop {
			if err := db.Exec(ctx, "DROP TABLE "+db.Table(v)); err != nil {
				b.Fatal(err)
			}
		}
		return db
	}
	rng := rand.New(rand.NewPCG(14, 2))
	cells := func() *RollupColumns {
		c := NewRollupColumns(2001)
		for range 2000 {
			day := time.Date(2021, 6, 11, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(1480))
			c.Add("HSCV", "bg-u"+string(rune('a'+rng.IntN(26))), uint16(day.Year()), "", day, events.Amount{Num: 1, Den: 1, N: 1})
		}
		c.Add(MarkerIndicator, "CDS_EVENTS", 0, "", time.Unix(0, 0).UTC(), events.Amount{N: 1, Num: 1, Den: 1})
		return c
	}
	without := open("cds_commit_without", "rollup_sums_view", "rollup_marks_view")
	sums := open("cds_commit_sums", "rollup_marks_view")
	with := open("cds_commit_with")
	var tWithout, tSums, tWith time.Duration
	for b.Loop() {
		c := cells()
		for _, w := range []struct {
			db *DB
			t  *time.Duration
		}{{without, &tWithout}, {sums, &tSums}, {with, &tWith}} {
			t0 := time.Now()
			if err := w.db.InsertRollup(ctx, "", c); err != nil {
				b.Fatal(err)
			}
			*w.t += time.Since(t0)
		}
	}
	b.ReportMetric(float64(tWithout.Milliseconds())/float64(b.N), "ms_without_views/op")
	b.ReportMetric(float64(tSums.Milliseconds())/float64(b.N), "ms_sums_view/op")
	b.ReportMetric(float64(tWith.Milliseconds())/float64(b.N), "ms_with_views/op")
	b.ReportMetric(float64(tWith)/float64(tWithout), "with_vs_without")
	b.ReportMetric(float64(tWith)/float64(tSums), "with_vs_sums_view")
}
