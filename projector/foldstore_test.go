package projector

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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
// and a store that holds a small part of the memory it may take outside
// the Go heap: the soft memory limit is the budget plus what the store does
// not hold yet, less the margin (heapLimit), never more than the budget
// plus the store's share. Then, with a whole process budget, a second
// projector over more events keeps the limit within what the memory
// measured outside the Go runtime leaves (the test binary's pages are not
// the store's share): below what the store's share alone would lend, never
// below MinHeapLimit. The gauges of the process's memory are set.
func TestHeapLent(t *testing.T) {
	h := newHarness(t)
	codes := registry.Sample().Codes()
	load := projtest.Generate(22, 2000, codes)
	if _, err := projtest.Publish(context.Background(), h.js, load.Msgs); err != nil {
		t.Fatal(err)
	}
	const budget = 128 << 20
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	dir := t.TempDir()
	r := h.start(t, Config{BatchMax: 200, FoldDir: dir, HeapBudget: budget})
	last := h.lastSeq(t)
	waitFor(t, 60*time.Second, "the fold to catch up", func() bool { return r.p.Watermark() >= last })
	limit := debug.SetMemoryLimit(-1)
	most := budget + r.p.store.MaxOffHeap()
	held := r.p.store.OffHeap()
	r.stop()
	if limit <= budget || limit > most-lendMargin {
		t.Errorf("soft memory limit %d MiB, want above the budget %d MiB and at most %d MiB less the margin (the store holds %d MiB)", limit>>20, budget>>20, most>>20, held>>20)
	}

	more := projtest.Generate(23, 2000, codes)
	if _, err := projtest.Publish(context.Background(), h.js, more.Msgs); err != nil {
		t.Fatal(err)
	}
	r = h.start(t, Config{BatchMax: 200, FoldDir: dir, HeapBudget: budget, MemoryBudget: most})
	last = h.lastSeq(t)
	waitFor(t, 60*time.Second, "the fold of more events to catch up", func() bool { return r.p.Watermark() >= last })
	limit = debug.SetMemoryLimit(-1)
	held = r.p.store.OffHeap()
	resident := gaugeValue(r.p.m.memory.WithLabelValues("resident"))
	outside := gaugeValue(r.p.m.memory.WithLabelValues("outside"))
	gauge := gaugeValue(r.p.m.memoryLimit)
	r.stop()
	if lent := budget + most - budget - held - lendMargin; limit >= lent || limit < MinHeapLimit {
		t.Errorf("soft memory limit %d MiB with a process budget of %d MiB, want below the %d MiB the store's share alone lends and at least %d MiB (the store holds %d MiB, outside the Go runtime %.0f MiB)",
			limit>>20, most>>20, lent>>20, MinHeapLimit>>20, held>>20, outside/(1<<20))
	}
	if resident <= 0 || outside <= 0 || outside >= resident || gauge != float64(limit) {
		t.Errorf("memory gauges: resident %.0f, outside %.0f, limit %.0f (set %d)", resident, outside, gauge, limit)
	}
}

// TestHeapLimitRule checks the soft limit's rule case by case.
func TestHeapLimitRule(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name string
		r    memoryReading
		want int64
	}{
		{"no process budget: the store's unused share lent, less the margin",
			memoryReading{heapBudget: 112 * mib, maxOffHeap: 96 * mib, offHeap: 20 * mib, outside: 200 * mib}, (112 + 96 - 20 - 16) * mib},
		{"the store full: the heap budget",
			memoryReading{heapBudget: 112 * mib, maxOffHeap: 96 * mib, offHeap: 100 * mib, outside: -1}, 112 * mib},
		{"outside unknown: the lent figure",
			memoryReading{heapBudget: 112 * mib, budget: 256 * mib, maxOffHeap: 96 * mib, offHeap: 20 * mib, outside: -1}, (112 + 96 - 20 - 16) * mib},
		{"room measured above the lent figure: the lent figure",
			memoryReading{heapBudget: 112 * mib, budget: 256 * mib, maxOffHeap: 96 * mib, offHeap: 20 * mib, outside: 60 * mib}, (112 + 96 - 20 - 16) * mib},
		{"room measured below it: the room, less the margin",
			memoryReading{heapBudget: 112 * mib, budget: 256 * mib, maxOffHeap: 96 * mib, offHeap: 60 * mib, outside: 120 * mib}, (256 - 120 - 16) * mib},
		{"room below the heap budget: the room",
			memoryReading{heapBudget: 112 * mib, budget: 256 * mib, maxOffHeap: 96 * mib, offHeap: 96 * mib, outside: 150 * mib}, (256 - 150 - 16) * mib},
		{"no room: MinHeapLimit",
			memoryReading{heapBudget: 112 * mib, budget: 256 * mib, maxOffHeap: 96 * mib, offHeap: 96 * mib, outside: 250 * mib}, MinHeapLimit},
		{"no room under a heap budget below MinHeapLimit: the heap budget",
			memoryReading{heapBudget: 32 * mib, budget: 160 * mib, maxOffHeap: 96 * mib, offHeap: 96 * mib, outside: 150 * mib}, 32 * mib},
	} {
		if got := heapLimit(c.r); got != c.want {
			t.Errorf("%s: heapLimit = %d MiB, want %d MiB", c.name, got/mib, c.want/mib)
		}
	}
}

// gaugeValue returns a gauge's value.
func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		return -1
	}
	return m.GetGauge().GetValue()
}
