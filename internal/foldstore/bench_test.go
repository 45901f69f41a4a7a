package foldstore

import (
	"fmt"
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
	id := func(i int) string { return fmt.Sprintf("b%09d-%016x", i, uint64(i)*0x9e3779b97f4a7c15) }
	key := func(i int) string {
		return fmt.Sprintf("WORKFILE/bg-unit%02d/WF-%d", (uint64(i)*0x9e3779b97f4a7c15>>32)%80, i)
	}
	write := func() {
		lookups := make([]string, 0, 2*batch)
		vals := make([]string, 0, 2*batch)
		for i := range batch {
			lookups = append(lookups, "i:"+id(n+i), "k:"+key(n+i))
			vals = append(vals, key(n+i), "\x01\x01\x1a"+id(n+i)+"\x0abg-unit01\x80\xd0\xba\x8c\x0c\x00\x80\x80\x02\x01\x04HSCV\x06online\x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\xf0\x3f")
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
			lookups = append(lookups, "i:"+id(n+i), "s:bg-unit01/"+id(n+i), "k:"+key(n+i))
		}
		if err := s.Get(lookups, func(int, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
		write()
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*batch), "cpu-µs/event")
	m := s.db.Metrics()
	b.ReportMetric(float64(m.Compact.Count), "compactions")
	var written uint64
	for _, l := range m.Levels {
		written += l.TableBytesCompacted + l.TableBytesFlushed
	}
	b.ReportMetric(float64(written)/float64(b.N*batch), "written-B/event")
}
