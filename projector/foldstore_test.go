package projector

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// copyDir copies the files of a stopped store (one level: Pebble's
// directory has no subdirectories besides none).
func copyDir(tb testing.TB, from, to string) {
	tb.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		tb.Fatal(err)
	}
}

// TestFoldStoreAcrossRestarts folds one load in three parts with projectors
// whose local fold stores are in sync, behind, ahead of ClickHouse (after a
// rewind) and missing; the load's corrections and duplicates reach back
// across the parts, so each store must hold what the earlier parts wrote.
// The projections stay exact, and the store is filled from cds.fold_index
// only when it is not at the commit markers.
func TestFoldStoreAcrossRestarts(t *testing.T) {
	h := newHarness(t)
	load := projtest.Generate(21, 3000, registry.Sample().Codes())
	third := len(load.Msgs) / 3
	parts := [][]projtest.Msg{load.Msgs[:third], load.Msgs[third : 2*third], load.Msgs[2*third:]}
	ctx := context.Background()
	publish := func(msgs []projtest.Msg) uint64 {
		t.Helper()
		last, err := projtest.Publish(ctx, h.js, msgs)
		if err != nil {
			t.Fatal(err)
		}
		return last
	}
	dirs := t.TempDir()
	dir := filepath.Join(dirs, "a")
	// fold runs a projector with its store in root until it has folded
	// the log, and returns how often it filled the store from ClickHouse.
	fold := func(root string) float64 {
		t.Helper()
		r := h.start(t, Config{BatchMax: 200, FoldCache: 1, FoldDir: root})
		last := h.lastSeq(t)
		waitFor(t, 60*time.Second, "the fold to catch up", func() bool { return r.p.Watermark() >= last })
		r.stop()
		return metric(t, r.reg, "cds_projector_fold_store_loads_total")
	}

	publish(parts[0])
	if n := fold(dir); n != 0 {
		t.Errorf("first start: %v loads of an empty store at an empty ClickHouse, want 0", n)
	}
	behind := filepath.Join(dirs, "behind")
	copyDir(t, dir, behind)

	publish(parts[1])
	if n := fold(dir); n != 0 {
		t.Errorf("restart with the store in sync: %v loads, want 0", n)
	}
	h.check(t, &projtest.Load{Msgs: load.Msgs[:2*third]})

	publish(parts[2])
	// The copy taken after the first part: behind, the second part's rows
	// are added from cds.fold_index.
	if n := fold(behind); n != 1 {
		t.Errorf("store behind: %v loads, want 1", n)
	}
	h.check(t, load)

	// A rewind to the middle leaves the store ahead: it is refilled.
	p, err := New(Config{FoldDir: dir}, Deps{JetStream: h.js, DB: h.db, Units: h.units})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Rewind(ctx, uint64(third)); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fold(dir); n != 0 {
		t.Errorf("after a rewind that refilled the store: %v loads, want 0", n)
	}
	h.check(t, load)

	// No store at all (another host, a lost disk): filled from ClickHouse.
	if n := fold(filepath.Join(dirs, "new")); n != 1 {
		t.Errorf("new store: %v loads, want 1", n)
	}
	h.check(t, load)
}

// TestHeapLent runs a projector with a heap budget (as cds projector does)
// and a fold store that holds a few thousand events, far below what it
// may take outside the Go heap: the soft memory limit is the budget plus
// what the store does not hold yet (lendHeap), never more than the budget
// plus the store's largest.
func TestHeapLent(t *testing.T) {
	h := newHarness(t)
	load := projtest.Generate(22, 2000, registry.Sample().Codes())
	if _, err := projtest.Publish(context.Background(), h.js, load.Msgs); err != nil {
		t.Fatal(err)
	}
	const budget = 64 << 20
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	r := h.start(t, Config{BatchMax: 200, FoldDir: t.TempDir(), HeapBudget: budget})
	last := h.lastSeq(t)
	waitFor(t, 60*time.Second, "the fold to catch up", func() bool { return r.p.Watermark() >= last })
	limit := debug.SetMemoryLimit(-1)
	most := budget + r.p.store.MaxOffHeap()
	held := r.p.store.OffHeap()
	r.stop()
	if limit <= budget || limit > most {
		t.Errorf("soft memory limit %d MiB, want above the budget %d MiB and at most %d MiB (the store holds %d MiB)", limit>>20, budget>>20, most>>20, held>>20)
	}
}
