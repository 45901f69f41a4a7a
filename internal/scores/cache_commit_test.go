package scores

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/admission"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
)

// TestCachesSameAsUncached: across commits, concurrent requests to an
// Engine with its caches (snapshots, drill-down pages and totals, silence),
// admitted per read through one slot, get the answers of an Engine without
// any cache, asked after them.
func TestCachesSameAsUncached(t *testing.T) {
	db := rollupDB(t)
	cached := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStore(db), Drills: NewDrillCache(0)}
	plain := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStoreCache(db, 0)}
	// No request shed: on a loaded machine the heavy reads' expected wait
	// (QueueDelay, 200 ms by default) shed one now and then, and its
	// answer was then compared as empty.
	ac := admission.New(admission.Config{Slots: 1, Wait: time.Minute, QueueDelay: time.Minute}, nil)
	q := Query{AsOf: date("2025-06-30"), Milestone: 2025}
	asks := []struct {
		name string
		ask  func(ctx context.Context, e *Engine) (any, error)
	}{
		{"level", func(ctx context.Context, e *Engine) (any, error) { return e.Level(ctx, registry.LevelDistrict, q) }},
		{"unit", func(ctx context.Context, e *Engine) (any, error) { return e.Unit(ctx, "bg-vietyen", q) }},
		{"drill", func(ctx context.Context, e *Engine) (any, error) { return e.Events(ctx, "bg-vietyen", "HSCV", q, 0, 2) }},
		{"drill page 2", func(ctx context.Context, e *Engine) (any, error) { return e.Events(ctx, "bg-vietyen", "HSCV", q, 2, 2) }},
		{"silence", func(ctx context.Context, e *Engine) (any, error) { return e.Silence(ctx, q, 30, "") }},
	}
	var prev pos
	for c := 1; c <= 3; c++ {
		var cells []testCell
		for i := 1; i <= 3; i++ {
			seq := uint64(3*(c-1) + i)
			day := fmt.Sprintf("2025-0%d-%02d", c+2, i)
			insertRaw(t, db, seq, fmt.Sprintf("w-%d", seq), fmt.Sprintf("W%d", seq), day)
			cells = append(cells, cell("HSCV", "bg-vietyen", 2025, "", day, float64(i%2), 1, 1))
		}
		next := pos{n: int64(3 * c), num: float64(3 * c), den: float64(c * 7)}
		commit(t, db, cells, prev, next)
		prev = next

		const concurrent = 4
		got := make([][]string, len(asks))
		var wg sync.WaitGroup
		for k, a := range asks {
			got[k] = make([]string, concurrent)
			for i := range concurrent {
				wg.Go(func() {
					v, err := a.ask(ac.Defer(context.Background()), cached)
					if err != nil {
						t.Errorf("commit %d, %s: %v", c, a.name, err)
						return
					}
					got[k][i] = mustJSON(t, v)
				})
			}
		}
		wg.Wait()
		for k, a := range asks {
			v, err := a.ask(context.Background(), plain)
			if err != nil {
				t.Fatalf("commit %d, %s without caches: %v", c, a.name, err)
			}
			want := mustJSON(t, v)
			for _, g := range got[k] {
				if g != want {
					t.Errorf("commit %d, %s: with the caches\n%s\nwithout\n%s", c, a.name, g, want)
				}
			}
		}
	}
	if _, hits, _ := cached.Store.CacheStats(); hits == 0 {
		t.Error("no request was answered from the snapshot cache")
	}
	if _, hits, _ := cached.Drills.Stats(); hits == 0 {
		t.Error("no request was answered from the drill-down cache")
	}
}

// TestRankedOncePerCommit: the scores of a level are computed once per
// snapshot pair of the cache: asked twice at one commit (a league table,
// then a unit of it), the same units come back, not computed again; after
// a commit they are computed anew, and are those of an Engine without
// caches.
func TestRankedOncePerCommit(t *testing.T) {
	db := rollupDB(t)
	cached := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStore(db)}
	plain := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStoreCache(db, 0)}
	ctx := context.Background()
	q := Query{AsOf: date("2025-06-30"), Milestone: 2025}
	var prev pos
	var first *UnitScore
	for c := 1; c <= 2; c++ {
		next := pos{n: int64(c), num: float64(c), den: float64(3 * c)}
		commit(t, db, []testCell{cell("HSCV", "bg-vietyen", 2025, "", fmt.Sprintf("2025-0%d-01", c+2), 1, 1, 1)}, prev, next)
		prev = next
		a, err := cached.Level(ctx, registry.LevelDistrict, q)
		if err != nil {
			t.Fatal(err)
		}
		u, err := cached.Unit(ctx, a.Units[0].Unit, q)
		if err != nil {
			t.Fatal(err)
		}
		if u != a.Units[0] {
			t.Errorf("commit %d: the unit's score was computed again, not taken from the league table's", c)
		}
		if u == first {
			t.Errorf("commit %d: the scores of the commit before came back", c)
		}
		first = u
		want, err := plain.Level(ctx, registry.LevelDistrict, q)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := mustJSON(t, a), mustJSON(t, want); got != want {
			t.Errorf("commit %d: with the caches\n%s\nwithout\n%s", c, got, want)
		}
	}
}

// TestOnePairForEveryLevel: with the cache, the scores of every level at
// one commit and as_of come from one read of the cells (the pair of every
// level's indicators), and are those of an Engine without caches, which
// reads each level's own.
func TestOnePairForEveryLevel(t *testing.T) {
	db := rollupDB(t)
	cached := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStore(db)}
	plain := &Engine{Catalog: catalog.Default(), Registry: registry.Sample(), Store: NewStoreCache(db, 0)}
	ctx := context.Background()
	q := Query{AsOf: date("2025-06-30"), Milestone: 2025}
	commit(t, db, []testCell{
		cell("HSCV", "bg-vietyen", 2025, "", "2025-03-01", 1, 2, 2),
		cell("DNS", "bg", 0, "", "2025-03-01", 7, 0, 7),
	}, pos{}, pos{n: 2, num: 2, den: 6})
	for _, level := range registry.Levels() {
		got, err := cached.Level(ctx, level, q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := plain.Level(ctx, level, q)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := mustJSON(t, got), mustJSON(t, want); got != want {
			t.Errorf("%s: with the caches\n%s\nwithout\n%s", level, got, want)
		}
	}
	if _, _, misses := cached.Store.CacheStats(); misses != 1 {
		t.Errorf("%d reads of the cells for the %d levels at one commit, want 1", misses, len(registry.Levels()))
	}
}
