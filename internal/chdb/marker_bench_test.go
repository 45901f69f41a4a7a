package chdb

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/chserver/chtest"
)

// BenchmarkReadMarks reads the commit markers from cds.rollup (ReadMarks)
// and from their copy cds.rollup_marks (ReadMarksCopy), alternately, after
// 20 commits of 10,000 cells each with merges stopped (the parts a reader
// meets between merges under a steady flow of commits): ns/op is the pair;
// per read, the rows ClickHouse read (from the query's progress) and the
// time.
//
//	go test -run '^$' -bench ReadMarks -benchtime 200x ./internal/chdb
func BenchmarkReadMarks(b *testing.B) {
	srv := chtest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db, err := Open(ctx, Config{Addr: srv.Addr(), Database: "cds_read_marks"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	for _, t := range []string{"rollup", "rollup_marks"} {
		if err := db.Exec(ctx, "SYSTEM STOP MERGES "+db.Table(t)); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(26, 1))
	const commits, cells = 20, 10000
	for i := range commits {
		c := NewRollupColumns(cells + 2)
		for range cells {
			day := time.Date(2021, 6, 11, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(1480))
			c.Add("HSCV", "bg-u"+string(rune('a'+rng.IntN(26))), uint16(day.Year()), "", day, events.Amount{Num: 1, Den: 1, N: 1})
		}
		c.Add(MarkerIndicator, "CDS_EVENTS", 0, "", time.Unix(0, 0).UTC(), events.Amount{N: int64(i + 1), Num: 1, Den: float64(i)})
		c.Add(MarkerIndicator, "CDS_EVENTS"+MarkerIndexSuffix, 0, "", time.Unix(0, 0).UTC(), events.Amount{Num: 2, Den: 3})
		if err := db.InsertRollup(ctx, "", c); err != nil {
			b.Fatal(err)
		}
	}
	var rows [2]atomic.Uint64
	var took [2]time.Duration
	reads := []func(context.Context) (Marks, error){db.ReadMarks, db.ReadMarksCopy}
	for b.Loop() {
		var got [2]string
		for i, read := range reads {
			qctx := clickhouse.Context(ctx, clickhouse.WithProgress(func(p *clickhouse.Progress) { rows[i].Add(p.Rows) }))
			t0 := time.Now()
			m, err := read(qctx)
			if err != nil {
				b.Fatal(err)
			}
			took[i] += time.Since(t0)
			got[i] = m.Key()
		}
		if got[0] != got[1] {
			b.Fatalf("the markers' copy says %q, cds.rollup %q", got[1], got[0])
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(rows[0].Load())/n, "rows_rollup/op")
	b.ReportMetric(float64(rows[1].Load())/n, "rows_copy/op")
	b.ReportMetric(float64(took[0].Microseconds())/n, "us_rollup/op")
	b.ReportMetric(float64(took[1].Microseconds())/n, "us_copy/op")
}
