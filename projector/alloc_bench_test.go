package projector

import (
	"context"
	"runtime"
	rtmetrics "runtime/metrics"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// BenchmarkDrainAllocs drains a backlog of 100,000 events into one
// ClickHouse server and reports what the process allocated per event
// (B/event, allocs/event: the projector's and the NATS server's, which
// runs in the test's process), the mean and the most of its live heap
// after each collection during the drain (live-MB, live-max-MB: read
// every 5 ms), the collections per 10,000 events (GCs/batch) and the
// drain rate. The projector's share
// is read from a memory profile of the same run, without the server's
// frames (docs/performance.md, "The projector's allocations (branch
// h21m)"):
//
//	go test -run '^$' -bench DrainAllocs -benchtime 1x -memprofile mem.out ./projector/
//	go tool pprof -sample_index=alloc_space -ignore 'nats-server' -top projector.test mem.out
func BenchmarkDrainAllocs(b *testing.B) {
	const events = 100000
	load := projtest.Generate(21, events, registry.Sample().Codes())
	var total time.Duration
	var bytes, mallocs, liveSum, liveN, liveMax uint64
	var gcs uint32
	for range b.N {
		b.StopTimer()
		h := newHarness(b)
		last, err := projtest.Publish(context.Background(), h.js, load.Msgs)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		start := time.Now()
		r := h.start(b, Config{})
		live := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
		waitFor(b, 10*time.Minute, "the backlog folded", func() bool {
			rtmetrics.Read(live)
			v := live[0].Value.Uint64()
			liveSum, liveN, liveMax = liveSum+v, liveN+1, max(liveMax, v)
			return r.p.Watermark() >= last
		})
		total += time.Since(start)
		b.StopTimer()
		runtime.ReadMemStats(&after)
		bytes += after.TotalAlloc - before.TotalAlloc
		mallocs += after.Mallocs - before.Mallocs
		gcs += after.NumGC - before.NumGC
		r.stop()
	}
	n := float64(len(load.Msgs) * b.N)
	b.ReportMetric(n/total.Seconds(), "events/s")
	b.ReportMetric(float64(bytes)/n, "B/event")
	b.ReportMetric(float64(mallocs)/n, "allocs/event")
	b.ReportMetric(float64(liveSum)/float64(max(liveN, 1))/(1<<20), "live-MB")
	b.ReportMetric(float64(liveMax)/(1<<20), "live-max-MB")
	b.ReportMetric(float64(gcs)/(n/10000), "GCs/batch")
}
