package projector

import (
	"context"
	"testing"
	"time"

	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// BenchmarkDrainReplicas measures the drain rate (events/s) of a backlog of
// 20,000 events into one ClickHouse server and into clusters of 2 and 3
// replicas (quorum writes of a majority), all on this machine; compare the
// sub-benchmarks of one run:
//
//	go test -run '^$' -bench DrainReplicas -benchtime 1x -count 3 ./projector/
func BenchmarkDrainReplicas(b *testing.B) {
	const events = 20000
	load := projtest.Generate(21, events, registry.Sample().Codes())
	for _, bc := range []struct {
		name     string
		replicas int
	}{{"single", 0}, {"replicas2", 2}, {"replicas3", 3}} {
		b.Run(bc.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				var h *harness
				if bc.replicas == 0 {
					h = newHarness(b)
				} else {
					h, _ = newReplicatedHarness(b, bc.replicas)
				}
				last, err := projtest.Publish(context.Background(), h.js, load.Msgs)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				r := h.start(b, Config{})
				waitFor(b, 5*time.Minute, "the backlog folded", func() bool { return r.p.Watermark() >= last })
				total += time.Since(start)
				b.StopTimer()
				r.stop()
			}
			b.ReportMetric(float64(events*b.N)/total.Seconds(), "events/s")
		})
	}
}
