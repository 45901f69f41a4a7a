package scores

import (
	"context"
	"fmt"
	"testing"

	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
)

// BenchmarkDrillCached times a drill-down answer of 100 events of
// bg-vietyen whose page, total and score are all in the caches (the same
// commit asked again): what most drill-downs of a busy morning cost, the
// API's Go work alone (the commit markers' read aside).
//
//	go test -run '^$' -bench DrillCached -benchmem ./internal/scores/
func BenchmarkDrillCached(b *testing.B) {
	db := rollupDB(b)
	ctx := context.Background()
	var ids, days []string
	var cells []testCell
	for i := 1; i <= 100; i++ {
		id, day := fmt.Sprintf("w-%d", i), fmt.Sprintf("2025-%02d-%02d", 1+i/28, 1+i%28)
		insertRaw(b, db, uint64(i), id, fmt.Sprintf("W%d", i), day)
		ids, days = append(ids, id), append(days, day)
		cells = append(cells, cell("HSCV", "bg-vietyen", 2025, "", day, 1, 1, 1))
	}
	addDrill(b, db, 100, ids, days)
	commit(b, db, cells, pos{}, pos{n: 100, num: 100, den: 300})
	e := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStore(db), Drills: NewDrillCache(0)}
	q := Query{AsOf: date("2025-06-30"), Milestone: 2025}
	if d, err := e.Events(ctx, "bg-vietyen", "HSCV", q, 0, 100); err != nil || len(d.Events) != 100 {
		b.Fatalf("%v, want 100 events", err)
	}
	for b.Loop() {
		if _, err := e.Events(ctx, "bg-vietyen", "HSCV", q, 0, 100); err != nil {
			b.Fatal(err)
		}
	}
}
