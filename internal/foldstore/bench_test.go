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
