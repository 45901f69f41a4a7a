package scores

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/chdb"
	"github.com/bacgiang/cds/internal/registry"
)

// BenchmarkSnapshotRead compares a cold read of the two snapshots of a
// commune score (as_of and the baseline date) from the copies of cds.rollup
// with the scan of cds.rollup, on the same cells: every unit of the sample
// registry, every own indicator of the default catalogue, a cell on one day
// in three from 2021-06-11 to 2025-06-30 (about 0.4M rows), in commits of
// 50,000 rows. Each iteration asks a different as_of. rows_read/op is what
// ClickHouse read, from the query's progress packets.
//
//	go test -run '^$' -bench SnapshotRead -benchtime 40x ./internal/scores
func BenchmarkSnapshotRead(b *testing.B) {
	db, own, reported := benchCells(b)
	ctx := context.Background()
	cat := catalog.Default()
	last := registry.NewDate(2025, 6, 30)
	for _, way := range []struct {
		name  string
		store *Store
	}{{"copies", NewStoreCache(db, 0)}, {"scan", NewStoreScan(db)}} {
		b.Run(way.name, func(b *testing.B) {
			base := cat.BaselineDate()
			var read uint64
			qctx := clickhouse.Context(ctx, clickhouse.WithProgress(func(p *clickhouse.Progress) { read += p.Rows }))
			i := 0
			for ; b.Loop(); i++ {
				asOf := last.AddDays(-(i * 7 % 1400))
				if _, err := way.store.read(qctx, asOf, base, own, reported); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(read)/float64(i), "rows_read/op")
			if c, f := way.store.ReadStats(); f != 0 {
				b.Fatalf("%d reads from the copies, %d fell back to the scan", c, f)
			}
		})
	}
}

// benchCells fills a database with the cells of BenchmarkSnapshotRead and
// returns it with the own and reported indicator codes.
func benchCells(b *testing.B) (db *chdb.DB, own, reported []string) {
	b.Helper()
	db = rollupDB(b)
	ctx := context.Background()
	cat, reg := catalog.Default(), registry.Sample()
	for _, ind := range cat.Indicators() {
		if ind.Kind.Reported() {
			reported = append(reported, ind.Code)
		} else {
			own = append(own, ind.Code)
		}
	}
	rng := rand.New(rand.NewPCG(14, 1))
	first, last := registry.NewDate(2021, 6, 11), registry.NewDate(2025, 6, 30)
	cols := chdb.NewRollupColumns(50000)
	var at pos
	flush := func() {
		next := pos{n: at.n + 1, num: at.num + 1, den: at.den + 1}
		cols.Add(chdb.MarkerIndicator, "CDS_EVENTS", 0, "", time.Unix(0, 0).UTC(), events.Amount{N: 1, Num: 1, Den: 1})
		if err := db.InsertRollup(ctx, "", cols); err != nil {
			b.Fatal(err)
		}
		at, cols = next, chdb.NewRollupColumns(50000)
	}
	rows := 0
	for d := first; !last.Before(d); d = d.AddDays(3) {
		day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		for _, u := range reg.Codes() {
			for _, ind := range own {
				period := uint16(0)
				if rng.IntN(2) == 0 {
					period = uint16(d.Year())
				}
				cols.Add(ind, u, period, "", day, events.Amount{Num: float64(rng.IntN(3)), Den: 1, N: 1})
				if rows++; cols.Len() >= 50000 {
					flush()
				}
			}
		}
	}
	flush()
	b.Logf("%d cells", rows)
	return db, own, reported
}

// BenchmarkPreloaded compares what a score-history refresh reads for 24
// points (the month-ends up to 2025-06-30: scores.Engine.Preloaded, the
// snapshots its scoring then uses) from the copies of cds.rollup with the
// scan of cds.rollup, on the cells of BenchmarkSnapshotRead.
//
//	go test -run '^$' -bench Preloaded -benchtime 10x ./internal/scores
func BenchmarkPreloaded(b *testing.B) {
	db, _, _ := benchCells(b)
	ctx := context.Background()
	cat, reg := catalog.Default(), registry.Sample()
	var dates []registry.Date
	for m := 7; m < 7+24; m++ {
		dates = append(dates, registry.NewDate(2023+(m-1)/12, time.Month((m-1)%12+2), 0))
	}
	for _, way := range []struct {
		name  string
		store *Store
	}{{"copies", NewStoreCache(db, 0)}, {"scan", NewStoreScan(db)}} {
		b.Run(way.name, func(b *testing.B) {
			e := &Engine{Catalog: cat, Registry: reg, Store: way.store}
			var read uint64
			qctx := clickhouse.Context(ctx, clickhouse.WithProgress(func(p *clickhouse.Progress) { read += p.Rows }))
			i := 0
			for ; b.Loop(); i++ {
				if _, err := e.Preloaded(qctx, dates); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(read)/float64(i), "rows_read/op")
			if c, f := way.store.ReadStats(); f != 0 {
				b.Fatalf("%d reads from the copies, %d fell back to the scan", c, f)
			}
		})
	}
}
