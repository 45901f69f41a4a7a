package app

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/board"
	"github.com/bacgiang/cds/internal/eventtest"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/internal/scores"
)

// TestBoardTrendsFromHistory: with a refresher in the API process, the
// board's trend charts come from cds.score_history, and once the refresher
// has caught up with the fixture they equal the engine's trends point for
// point; before its first refresh they are the engine's.
func TestBoardTrendsFromHistory(t *testing.T) {
	sys := mustSystem(t, func(c *Config) { c.HistoryInterval = 300 * time.Millisecond })
	if sys.History == nil || sys.HistoryReader == nil {
		t.Fatal("no refresher in the API process")
	}
	load(t, sys, eventtest.Province())
	engine := &scores.Engine{Catalog: sys.Catalog, Registry: sys.Registry, Store: scores.NewStore(sys.CH.DB)}
	fromEngine := board.NewEngineTrends(engine, sys.CH.DB)
	fromHistory := historyTrends{store: sys.HistoryReader, refresher: sys.History, fallback: fromEngine}
	asOf := registry.NewDate(2025, 6, 30)
	ctx := context.Background()

	for _, unit := range []string{"bg", "bg-vietyen", "bg-hiephoa"} {
		want, err := fromEngine.UnitTrends(ctx, unit, 2025, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 {
			t.Fatalf("%s: the engine draws no trend", unit)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			got, err := fromHistory.UnitTrends(ctx, unit, 2025, asOf)
			if err != nil {
				t.Fatal(err)
			}
			diff := trendDiff(want, got)
			if diff == "" && sys.History.Ready() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the history's trends differ from the engine's after 60 s (ready %v): %s", unit, sys.History.Ready(), diff)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// trendDiff describes the first difference between two sets of trends, ""
// when they are equal.
func trendDiff(want, got map[string][]board.TrendPoint) string {
	codes := make([]string, 0, len(want))
	for c := range want {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	if len(got) != len(want) {
		return fmt.Sprintf("indicators %d, want %d (%s)", len(got), len(want), strings.Join(codes, ","))
	}
	for _, c := range codes {
		w, g := want[c], got[c]
		if len(g) != len(w) {
			return fmt.Sprintf("%s: %d points, want %d", c, len(g), len(w))
		}
		for i := range w {
			if g[i].AsOf != w[i].AsOf || g[i].Status != w[i].Status || !sameNumber(g[i].Value, w[i].Value) ||
				!sameNumber(g[i].Target, w[i].Target) || !sameNumber(g[i].Expected, w[i].Expected) {
				return fmt.Sprintf("%s at %s: %s, want %s", c, w[i].AsOf, pointString(g[i]), pointString(w[i]))
			}
		}
	}
	return ""
}

func sameNumber(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) <= 1e-9*math.Max(1, math.Abs(*b))
}

func pointString(p board.TrendPoint) string {
	f := func(x *float64) string {
		if x == nil {
			return "-"
		}
		return fmt.Sprint(*x)
	}
	return fmt.Sprintf("value %s target %s expected %s %s", f(p.Value), f(p.Target), f(p.Expected), p.Status)
}
