package bench

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// snapshotReads measures cold score computations two ways in the same run,
// without HTTP and without a cache: from the copies of cds.rollup (what the
// API does) and by the scan of cds.rollup (the baseline; what it does when
// the copies disagree with cds.rollup's commit markers). Each as_of is asked
// once of each, alternately, so both see the same data and the same load.
// Besides the times, which a shared machine disturbs, it reports the rows
// ClickHouse read per computation (from the query's progress packets),
// which it does not.
func (e *env) snapshotReads(ctx context.Context) error {
	n := min(e.cfg.Queries, 100)
	e.Progressf("cold score computations, from the copies of cds.rollup and by its scan: %d each", n)
	engine := func(s *scores.Store) *scores.Engine {
		return &scores.Engine{Catalog: catalog.Default(), Registry: e.reg, Store: s}
	}
	copies, scan := scores.NewStoreCache(e.db, 0), scores.NewStoreScan(e.db)
	ways := []struct {
		name string
		e    *scores.Engine
	}{{"copies", engine(copies)}, {"scan", engine(scan)}}
	asOf := registry.NewDate(2025, 6, 30)
	for _, q := range []struct {
		name string
		run  func(ctx context.Context, e *scores.Engine, d registry.Date) error
	}{
		{"score_level_cold", func(ctx context.Context, e *scores.Engine, d registry.Date) error {
			_, err := e.Level(ctx, registry.LevelCommune, scores.Query{AsOf: d, Milestone: 2025})
			return err
		}},
		{"score_unit_cold", func(ctx context.Context, e *scores.Engine, d registry.Date) error {
			_, err := e.Unit(ctx, "bg-vietyen", scores.Query{AsOf: d, Milestone: 2025})
			return err
		}},
	} {
		lat := make([][]time.Duration, len(ways))
		read := make([]uint64, len(ways))
		for i := 0; i < n; i++ {
			// Days spread over the last year of the data, month ends included.
			d := asOf.AddDays(-(i * 365 / n))
			for w, way := range ways {
				qctx := clickhouse.Context(ctx, clickhouse.WithProgress(func(p *clickhouse.Progress) { read[w] += p.Rows }))
				t0 := time.Now()
				if err := q.run(qctx, way.e, d); err != nil {
					return fmt.Errorf("%s %s at %s: %w", q.name, way.name, d, err)
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}
		p50, p99 := make([]float64, len(ways)), make([]float64, len(ways))
		for w, way := range ways {
			l := lat[w]
			sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
			p50[w], p99[w] = ms(l[len(l)/2]), ms(l[len(l)*99/100])
			e.Figure(q.name+"_"+way.name+"_p50_ms", p50[w], "ms")
			e.Figure(q.name+"_"+way.name+"_p99_ms", p99[w], "ms")
			e.Figure(q.name+"_"+way.name+"_rows_read", float64(read[w])/float64(n), "rows")
		}
		e.Figure(q.name+"_copies_vs_scan_p50", p50[0]/p50[1], "")
		e.Figure(q.name+"_copies_vs_scan_p99", p99[0]/p99[1], "")
		e.Figure(q.name+"_copies_vs_scan_rows_read", float64(read[0])/float64(read[1]), "")
	}
	if c, f := copies.ReadStats(); f > 0 {
		e.Progressf("  %d of %d reads fell back to the scan (a commit landed meanwhile)", f, c+f)
	}
	return nil
}
