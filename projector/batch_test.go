package projector

import (
	"testing"
	"time"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/fold"
	"github.com/bacgiang/cds/internal/registry"
	"github.com/bacgiang/cds/projector/projtest"
)

// BenchmarkBuildBatch measures building the insert columns of one batch of
// 20,000 events (raw rows, then cells and marker) from events already
// decoded and folded: the reader's work besides decoding and folding.
func BenchmarkBuildBatch(b *testing.B) {
	const n = 20000
	load := projtest.Generate(1, n, registry.Sample().Codes())
	var evs []*events.Event
	for _, m := range load.Msgs {
		if m.Kind == projtest.Invalid {
			continue
		}
		if e, err := events.Decode(m.Data); err == nil {
			evs = append(evs, e)
		}
	}
	txn := fold.New().Begin()
	for _, e := range evs {
		txn.Apply(e)
	}
	rows := txn.Rows()
	received := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var raw rawRows
		raw.grow(len(evs))
		for i, e := range evs {
			raw.add(e, uint64(i+1), received)
		}
		cells := newCellColumns(len(rows) + 1)
		for _, r := range rows {
			cells.add(r)
		}
		cells.marker("CDS_EVENTS", "1@bench", position{}, position{seq: uint64(len(evs)), rows: uint64(raw.Len()), sum: raw.sum})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
