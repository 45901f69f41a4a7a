package foldstore

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time of this process, with Pebble's compactions.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBatchCycle is the store's work for one batch of 10,000 new
// events after 1M: three absent lookups per event (its id, its key, a
// superseded mark), then the write of its id and key rows.
func BenchmarkBatchCycle(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), Identity: "x", CacheBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 10000
	var mark Mark
	n := 0
	write := func() {
		lookups := make([]string, 0, 2*batch)
		vals := make([]string, 0, 2*batch)
		for i := range batch {
			id := fmt.Sprintf("0193a1f4-5c2e-7d3a-9f00-%012d", n+i)
			lookups = append(lookups, "i:"+id, "k:WORKFILE/bg-vietyen/VY-2025-"+fmt.Sprint(n+i))
			vals = append(vals, "WORKFILE/bg-vietyen/VY-2025-"+fmt.Sprint(n+i), "+"+id+" 1740000000 0 20000 hscv:online=1/1")
		}
		next := Mark{Seq: mark.Seq + batch, Rows: mark.Rows + uint64(len(lookups))}
		if err := s.Write(mark, next, lookups, vals); err != nil {
			b.Fatal(err)
		}
		mark, n = next, n+batch
	}
	for range 100 {
		write()
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		lookups := make([]string, 0, 3*batch)
		for i := range batch {
			id := fmt.Sprintf("0193a1f4-5c2e-7d3a-9f00-%012d", n+i)
			lookups = append(lookups, "i:"+id, "s:bg-vietyen/"+id, "k:WORKFILE/bg-vietyen/VY-2025-"+fmt.Sprint(n+i))
		}
		if err := s.Get(lookups, func(int, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
		write()
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*batch), "cpu-µs/event")
	m := s.db.Metrics()
	b.Logf("filter %+v cache hits %d misses %d tablecache %+v", m.Filter, m.BlockCache.Hits, m.BlockCache.Misses, m.FileCache)
}

// BenchmarkBatchCycleSpread is BenchmarkBatchCycle with the bench's keys:
// event ids in order, natural keys of 80 agencies, so that each batch's
// new keys land all over the key space; after 1M events, it runs for
// b.N batches.
func BenchmarkBatchCycleSpread(b *testing.B) {
	for _, o := range []struct {
		name string
		opts Options
	}{
		{"cache64-mem16-l0x8", Options{CacheBytes: 64 << 20, MemTableBytes: 16 << 20, l0Compaction: 8}},
		{"cache64-mem8-l0x16", Options{CacheBytes: 64 << 20, MemTableBytes: 8 << 20, l0Compaction: 16}},
		{"cache32-mem16-l0x8", Options{CacheBytes: 32 << 20, MemTableBytes: 16 << 20, l0Compaction: 8}},
	} {
		b.Run(o.name, func(b *testing.B) { batchCycleSpread(b, o.opts) })
	}
}

func batchCycleSpread(b *testing.B, opts Options) {
	opts.Dir, opts.Identity = b.TempDir(), "x"
	s, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 10000
	var mark Mark
	n := 0
	var g spreadKeys
	write := func() {
		lookups := make([]string, 0, 2*batch)
		vals := make([]string, 0, 2*batch)
		for i := range batch {
			lookups = append(lookups, "i:"+g.id(n+i), "k:"+g.key(n+i))
			vals = append(vals, g.key(n+i), g.value(n+i))
		}
		next := Mark{Seq: mark.Seq + batch, Rows: mark.Rows + uint64(len(lookups))}
		if err := s.Write(mark, next, lookups, vals); err != nil {
			b.Fatal(err)
		}
		mark, n = next, n+batch
	}
	for range 100 {
		write()
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		lookups := make([]string, 0, 3*batch)
		for i := range batch {
			lookups = append(lookups, "i:"+g.id(n+i), "s:bg-unit01/"+g.id(n+i), "k:"+g.key(n+i))
		}
		if err := s.Get(lookups, func(int, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
		write()
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*batch), "cpu-µs/event")
	b.ReportMetric(float64(s.db.Metrics().Compact.Count), "compactions")
	b.ReportMetric(float64(written(s))/float64(b.N*batch), "written-B/event")
}

// scaleSizes are the store sizes of BenchmarkScale: 1M and 5M events, and
// 20M with CDS_FOLDSTORE_20M=1 (its fill takes minutes).
func scaleSizes() []int {
	sizes := []int{1_000_000, 5_000_000}
	if os.Getenv("CDS_FOLDSTORE_20M") != "" {
		sizes = append(sizes, 20_000_000)
	}
	return sizes
}

// BenchmarkScale is the store's cost per event as the log grows: a store
// filled to N events with the bench's keys (event ids in order, natural
// keys of 80 agencies spread over the key space) through writes of 10,000
// events, so that its tables have the shape a drain gives them, then b.N
// batch cycles of the drain's work (three lookups per event, nearly all
// absent, and the write of two rows). It reports the CPU per event of the
// whole process (compactions included) and of the lookups alone, the bytes
// flushes and compactions write per event, the block cache's hit rate
// during the cycles, and the memory. Run it with
//
//	go test -run '^$' -bench Scale -benchtime 30x -timeout 60m ./internal/foldstore
//	CDS_FOLDSTORE_20M=1 go test -run '^$' -bench 'Scale/events=20M' -benchtime 30x -timeout 120m ./internal/foldstore
//
// Each size runs the store as it was before the filter of lookups and the
// epochs (nofilter-cache64), with the filter alone (filter-oneepoch) and
// with the default options.
func BenchmarkScale(b *testing.B) {
	for _, n := range scaleSizes() {
		for _, v := range []struct {
			name string
			opts Options
		}{
			// main before the filter: every lookup reads Pebble, whose
			// tables have Bloom filters, with a 64 MiB cache.
			{"nofilter-cache64", Options{CacheBytes: 64 << 20, noFilter: true, epochRecords: -1}},
			// the filter, without epochs
			{"filter-oneepoch", Options{epochRecords: -1}},
			{"default", Options{}},
			// the default as it was, its cache taken by the memtables'
			// reservations
			{"memtables-in-cache", Options{memtablesInCache: true}},
			// the same memory, more of it for the filter
			{"filter48-cache16", Options{FilterBytes: 48 << 20, CacheBytes: 16 << 20}},
		} {
			b.Run(fmt.Sprintf("events=%dM/%s", n/1_000_000, v.name), func(b *testing.B) { scaleCycle(b, n, v.opts) })
		}
	}
}

// spreadKeys makes the events of the bench's shape: ids in order, natural
// keys of 80 agencies.
type spreadKeys struct{}

func (spreadKeys) id(i int) string {
	return fmt.Sprintf("b%09d-%016x", i, uint64(i)*0x9e3779b97f4a7c15)
}

func (spreadKeys) key(i int) string {
	return fmt.Sprintf("WORKFILE/bg-unit%02d/WF-%d", (uint64(i)*0x9e3779b97f4a7c15>>32)%80, i)
}

// value is the index row of the key of event i: one entry of an HSCV
// contribution.
func (g spreadKeys) value(i int) string {
	return "\x01\x01\x1a" + g.id(i) + "\x0abg-unit01\x80\xd0\xba\x8c\x0c\x00\x80\x80\x02\x01\x04HSCV\x06online\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\xf0\x3f"
}

// threadCPU is the CPU time of the calling thread (lock it first).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus returns a field of /proc/self/status in MB ("VmRSS", "VmHWM").
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// written is the bytes written by flushes and compactions so far.
func written(s *Store) uint64 {
	m := s.db.Metrics()
	var w uint64
	for _, l := range m.Levels {
		w += l.TableBytesCompacted + l.TableBytesFlushed
	}
	return w
}

func scaleCycle(b *testing.B, events int, opts Options) {
	opts.Dir, opts.Identity = b.TempDir(), "x"
	s, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	const batch = 10000
	var g spreadKeys
	var mark Mark
	n := 0
	lookups := make([]string, 0, 3*batch)
	vals := make([]string, 0, 2*batch)
	write := func() {
		lookups, vals = lookups[:0], vals[:0]
		for i := n; i < n+batch; i++ {
			lookups = append(lookups, "i:"+g.id(i), "k:"+g.key(i))
			vals = append(vals, g.key(i), g.value(i))
		}
		next := Mark{Seq: mark.Seq + batch, Rows: mark.Rows + uint64(len(lookups))}
		if err := s.Write(mark, next, lookups, vals); err != nil {
			b.Fatal(err)
		}
		mark, n = next, n+batch
	}
	start, cpu0 := time.Now(), cpuTime()
	for n < events {
		write()
	}
	b.Logf("filled %d events in %s, %.1f CPU µs/event, %d MB on disk",
		events, time.Since(start).Round(time.Second), float64((cpuTime()-cpu0).Microseconds())/float64(events), s.DiskBytes()>>20)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m0 := s.db.Metrics()
	w0 := written(s)
	var getCPU, writeCPU time.Duration
	cpu0 = cpuTime()
	b.ResetTimer()
	for b.Loop() {
		lookups = lookups[:0]
		for i := n; i < n+batch; i++ {
			lookups = append(lookups, "i:"+g.id(i), "s:bg-unit01/"+g.id(i), "k:"+g.key(i))
		}
		t := threadCPU()
		if err := s.Get(lookups, func(int, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
		t1 := threadCPU()
		getCPU += t1 - t
		write()
		writeCPU += threadCPU() - t1
	}
	b.StopTimer()
	ev := float64(b.N * batch)
	total := cpuTime() - cpu0
	m := s.db.Metrics()
	hits, misses := m.BlockCache.Hits-m0.BlockCache.Hits, m.BlockCache.Misses-m0.BlockCache.Misses
	b.ReportMetric(float64(total.Microseconds())/ev, "cpu-µs/event")
	b.ReportMetric(float64(getCPU.Microseconds())/ev, "get-µs/event")
	b.ReportMetric(float64(writeCPU.Microseconds())/ev, "write-µs/event")
	b.ReportMetric(float64((total-getCPU-writeCPU).Microseconds())/ev, "bg-µs/event")
	b.ReportMetric(float64(written(s)-w0)/ev, "written-B/event")
	if hits+misses > 0 {
		b.ReportMetric(float64(hits)/float64(hits+misses), "cache-hit")
	}
	b.ReportMetric(float64(misses)/ev, "cache-miss/event")
	b.ReportMetric(procStatus("VmRSS"), "rss-MB")
	b.ReportMetric(float64(m.BlockCache.Size+int64(m.MemTable.Size))/(1<<20), "pebble-MB")
	if s.filter != nil {
		b.ReportMetric(float64(s.filter.Bytes())/(1<<20), "filter-MB")
	}
	var levels []string
	for i, l := range m.Levels {
		if l.TablesCount > 0 {
			levels = append(levels, fmt.Sprintf("L%d %d tables %d MB", i, l.TablesCount, l.TablesSize>>20))
		}
	}
	b.Logf("%s; Pebble's filters %+v; compactions %d", strings.Join(levels, ", "), m.Filter, m.Compact.Count-m0.Compact.Count)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	start, cpu0 = time.Now(), cpuTime()
	if s, err = Open(opts); err != nil {
		b.Fatal(err)
	}
	b.Logf("reopened in %s, %s CPU", time.Since(start).Round(time.Millisecond), (cpuTime() - cpu0).Round(time.Millisecond))
}
