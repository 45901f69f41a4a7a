package projector

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"sync"
	"time"

	"github.com/bacgiang/cds/internal/cmalloc"
	"github.com/bacgiang/cds/internal/foldstore"
)

// The projector keeps its process within a memory budget by one knob, the
// Go runtime's soft memory limit, set after every batch (balanceHeap):
// everything else it holds (the local fold store's cache, memtables and
// filter, the binary's pages, the C allocator's memory) is outside the
// collector's reach, so the Go heap takes what they leave
// (docs/performance.md, "The projector's memory against its budget").

// MinHeapLimit is the least soft memory limit the projector sets when the
// memory measured outside the Go runtime leaves less (Config.MemoryBudget):
// about three batches in flight and two generations of the fold state.
// Below it the collector would run nearly all the time.
const MinHeapLimit = 64 << 20

// lendHeapStep is the least change of the soft memory limit that
// balanceHeap makes: each setting takes the runtime's heap lock and
// recomputes the collector's goal, not worth doing for less.
const lendHeapStep = 1 << 20

// lendMargin is kept back from what balanceHeap lends and from the room it
// measures: the store grows within a batch (a memtable, the filter
// doubling, the cache) before the next call sees it.
const lendMargin = 16 << 20

// memoryReading is what the soft limit's rule (heapLimit) reads.
type memoryReading struct {
	// heapBudget is Config.HeapBudget; budget is Config.MemoryBudget (0:
	// no measured term).
	heapBudget, budget int64
	// maxOffHeap is the most the fold store may take outside the Go heap,
	// offHeap what it holds now.
	maxOffHeap, offHeap int64
	// outside is the resident memory that is not the Go runtime's: the
	// resident set less the runtime's memory not returned to the OS; -1
	// when unknown.
	outside int64
}

// heapLimit is the rule of the Go soft memory limit. It lends the Go heap
// what the fold store does not hold yet of its share, less lendMargin:
// HeapBudget + MaxOffHeap − OffHeap − lendMargin, never below HeapBudget.
// With a process budget (MemoryBudget) it also keeps the limit within
// what the resident memory measured outside the Go runtime leaves of it,
// less lendMargin: that counts what the budget's shares do not (the C
// allocator's overhead and free memory around the block cache, the
// binary's pages beyond their estimate) and is never lent twice. That
// measured room may take the limit below HeapBudget, never below
// MinHeapLimit (nor above the lent figure).
func heapLimit(r memoryReading) int64 {
	limit := r.heapBudget + max(r.maxOffHeap-r.offHeap-lendMargin, 0)
	if r.budget <= 0 || r.outside < 0 {
		return limit
	}
	if room := r.budget - r.outside - lendMargin; room < limit {
		limit = max(room, min(MinHeapLimit, limit))
	}
	return limit
}

// resetHeap sets the soft memory limit to HeapBudget, lending nothing: at
// the start of Run and before a recovery fills the fold store, which
// grows it before any batch's balanceHeap sees it.
func (p *Projector) resetHeap() {
	if p.cfg.HeapBudget <= 0 {
		return
	}
	p.setHeapLimit(p.cfg.HeapBudget)
}

// balanceHeap measures the process's memory (the gauges of
// cds_projector_memory_bytes) and, with a HeapBudget, sets the soft
// memory limit by heapLimit's rule. The writer calls it after each batch.
func (p *Projector) balanceHeap() {
	if p.store == nil {
		return
	}
	p.trimCHeap()
	use := p.store.MemoryUse()
	r := p.readMemory(use)
	p.m.memory.WithLabelValues("store_cache").Set(float64(use.Cache))
	p.m.memory.WithLabelValues("store_memtables").Set(float64(use.MemTables))
	p.m.memory.WithLabelValues("store_filter").Set(float64(use.Filter))
	if p.cfg.HeapBudget <= 0 {
		return
	}
	limit := heapLimit(r)
	if d := limit - p.heapLimit; d < lendHeapStep && d > -lendHeapStep {
		return
	}
	p.setHeapLimit(limit)
}

// trimEvery is how often balanceHeap has the C allocator return its free
// memory (malloc_trim: a few milliseconds with the store's arenas).
const trimEvery = 2 * time.Second

// tuneCHeapOnce tunes the C allocator once per process, before the first
// fold store is opened.
var tuneCHeapOnce sync.Once

// tuneCHeap keeps the C allocator that Pebble allocates the fold store's
// block cache and memtables with to a few arenas that return their free
// memory (cmalloc.Tune; docs/performance.md, "The C allocator's memory").
func tuneCHeap(log *slog.Logger) {
	tuneCHeapOnce.Do(func() {
		if err := cmalloc.Tune(cmalloc.DefaultArenas, cmalloc.DefaultMmapAbove, cmalloc.DefaultTrimAbove); err != nil {
			log.Warn("the C allocator keeps its defaults", "err", err)
		}
	})
}

// trimCHeap has the C allocator return its free memory to the OS, at most
// every trimEvery, and counts what the resident set lost
// (cds_projector_memory_trimmed_bytes_total).
func (p *Projector) trimCHeap() {
	if !cmalloc.Supported || time.Since(p.trimmedAt) < trimEvery {
		return
	}
	p.trimmedAt = time.Now()
	before, err := residentBytes()
	if !cmalloc.Trim() || err != nil {
		return
	}
	if after, err := residentBytes(); err == nil && after < before {
		p.m.trimmed.Add(float64(before - after))
	}
}

// beforeStoreGrows is the fold store's BeforeGrowth: the store is about to
// rebuild its filter larger, which holds the old filter and the new one
// at once and reads every record through the block cache, filling it:
// more than lendMargin within one batch (docs/performance.md, "The
// projector's memory against its budget"). It takes that room back from
// the limit now, and when the Go runtime holds more than the new limit it
// returns its free memory to the OS at once (debug.FreeOSMemory: a
// collection, a few times over a drain) instead of over the next batches.
func (p *Projector) beforeStoreGrows(now foldstore.MemoryUse, more int64) {
	if p.cfg.HeapBudget <= 0 || p.store == nil {
		return
	}
	r := p.readMemory(now)
	r.offHeap += more
	if r.outside >= 0 {
		r.outside += more
	}
	limit := heapLimit(r)
	if limit >= p.heapLimit {
		return
	}
	p.setHeapLimit(limit)
	if readRuntimeMemory().held() > limit {
		debug.FreeOSMemory()
	}
}

// readMemory reads what heapLimit's rule reads, the store's part being
// use, and sets the gauges of the process's and the Go runtime's memory.
func (p *Projector) readMemory(use foldstore.MemoryUse) memoryReading {
	rt := readRuntimeMemory()
	r := memoryReading{heapBudget: p.cfg.HeapBudget, budget: p.cfg.MemoryBudget,
		maxOffHeap: p.store.MaxOffHeap(), offHeap: use.Total(), outside: -1}
	if rss, err := residentBytes(); err == nil {
		r.outside = max(rss-rt.held(), 0)
		p.m.memory.WithLabelValues("resident").Set(float64(rss))
		p.m.memory.WithLabelValues("outside").Set(float64(r.outside))
	}
	p.m.memory.WithLabelValues("go_heap").Set(float64(rt.objects))
	p.m.memory.WithLabelValues("go_heap_free").Set(float64(rt.free))
	p.m.memory.WithLabelValues("go_runtime").Set(float64(rt.other))
	return r
}

// setHeapLimit sets the Go soft memory limit and its gauge.
func (p *Projector) setHeapLimit(limit int64) {
	p.heapLimit = limit
	debug.SetMemoryLimit(limit)
	p.m.memoryLimit.Set(float64(limit))
}

// runtimeMemory is the Go runtime's memory by class (runtime/metrics,
// /memory/classes/...).
type runtimeMemory struct {
	objects  int64 // heap objects, live and not yet swept
	free     int64 // heap memory free or unused, not returned to the OS
	released int64 // heap memory returned to the OS
	other    int64 // stacks, the runtime's metadata and the rest
	total    int64 // all the runtime has mapped
}

// held returns the memory the runtime holds and has not returned to the
// OS: what its soft limit counts.
func (m runtimeMemory) held() int64 { return m.total - m.released }

var runtimeClasses = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/total:bytes",
}

// readRuntimeMemory reads the runtime's memory classes (runtime/metrics:
// no stop of the world).
func readRuntimeMemory() runtimeMemory {
	s := make([]rtmetrics.Sample, len(runtimeClasses))
	for i, n := range runtimeClasses {
		s[i].Name = n
	}
	rtmetrics.Read(s)
	v := func(i int) int64 {
		if s[i].Value.Kind() != rtmetrics.KindUint64 {
			return 0
		}
		return int64(s[i].Value.Uint64())
	}
	m := runtimeMemory{objects: v(0), free: v(1) + v(2), released: v(3), total: v(4)}
	m.other = max(m.total-m.objects-m.free-m.released, 0)
	return m
}

// residentBytes returns the process's resident set (Linux: the second
// field of /proc/self/statm, in pages).
func residentBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("resident set: %w", err)
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, errors.New("resident set: /proc/self/statm has fewer than 2 fields")
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("resident set: /proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}
