package scores

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/catalog"
	"github.com/bacgiang/cds/internal/registry"
)

// BenchmarkLevelScores times the scores of every unit of a level at
// 2025-06-30 from a snapshot pair already in the Store's cache (every unit
// of the sample registry with a value for every own indicator), computed
// for each request as before (a pair without its memo: "computed") and
// taken from the pair's memo (levels.go: "kept"). No ClickHouse.
//
//	go test -run '^$' -bench LevelScores ./internal/scores/
func BenchmarkLevelScores(b *testing.B) {
	cat, reg := catalog.Default(), registry.Sample()
	m := mark{key: "k", watermark: 1}
	asOf := registry.NewDate(2025, 6, 30)
	for _, way := range []string{"computed", "kept"} {
		s := &Store{cache: newSnapCache(32), pinned: &m}
		e := &Engine{Catalog: cat, Registry: reg, Store: s}
		for _, level := range registry.Levels() {
			var own, reported []string
			for _, ind := range cat.Indicators() {
				switch {
				case !ind.AppliesTo(level):
				case ind.Kind.Reported():
					reported = append(reported, ind.Code)
				default:
					own = append(own, ind.Code)
				}
			}
			snap := func() *snapshot {
				sn := &snapshot{own: map[string]map[string]events.Amount{}, reported: map[string]map[int]map[string]events.Amount{}}
				for _, c := range own {
					sn.own[c] = map[string]events.Amount{}
					for _, u := range reg.Codes() {
						sn.own[c][u] = events.Amount{Num: 50, Den: 100, N: 100}
					}
				}
				return sn
			}
			p := snapPair{snaps: [2]*snapshot{snap(), snap()}, at: m}
			if way == "kept" {
				p.ranked = &rankedMemo{}
			}
			s.cache.put(snapKey{mark: m, q: snapQuery{a: asOf, b: cat.BaselineDate(), codes: strings.Join(own, ",") + ";" + strings.Join(reported, ",")}}, p)
		}
		for _, level := range []registry.Level{registry.LevelCommune, registry.LevelDistrict, registry.LevelProvince} {
			b.Run(string(level)+"/"+way, func(b *testing.B) {
				for b.Loop() {
					if _, err := e.Level(context.Background(), level, Query{AsOf: asOf, Milestone: 2025}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestIndicatorsCopiedOnce: an Engine copies its catalogue's indicators
// once, not per call, and again when its catalogue is another.
func TestIndicatorsCopiedOnce(t *testing.T) {
	e := &Engine{Catalog: catalog.Default()}
	a, b := e.indicators(), e.indicators()
	if len(a) == 0 || &a[0] != &b[0] {
		t.Fatalf("the indicators were copied again (%d)", len(a))
	}
	other, err := catalog.Parse(bytes.NewReader(catalog.DefaultJSON()))
	if err != nil {
		t.Fatal(err)
	}
	e.Catalog = other
	if c := e.indicators(); &c[0] == &a[0] || len(c) != len(a) {
		t.Errorf("another catalogue's indicators were not copied")
	}
}
