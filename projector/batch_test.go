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

// BenchmarkBatchColumns builds the columns of one batch of 10,000 events
// (raw rows, index rows, cells and marker, drill rows) from a folded
// batch, into new columns (new) and into the columns of a batch written
// before, emptied (recycled, as the reader does since recycle): B/op is
// the garbage of a batch's columns.
func BenchmarkBatchColumns(b *testing.B) {
	const n = 10000
	load := projtest.Generate(1, n, registry.Sample().Codes())
	var evs []*events.Event
	for _, m := range load.Msgs {
		if e, err := events.Decode(m.Data); err == nil && m.Kind != projtest.Invalid {
			evs = append(evs, e)
		}
	}
	s := fold.New()
	s.TrackLinks()
	txn := s.Begin()
	for i, e := range evs {
		txn.ApplyAt(e, uint64(i+1))
	}
	rows, links, index := txn.Rows(), txn.Links(), txn.Index()
	received := time.Now()
	for _, recycled := range []bool{false, true} {
		name := "new"
		if recycled {
			name = "recycled"
		}
		b.Run(name, func(b *testing.B) {
			p := &Projector{spares: make(chan *prepared, spareBatches)}
			b.ReportAllocs()
			for b.Loop() {
				pb := p.newPrepared(position{})
				pb.raw.grow(len(evs))
				for i, e := range evs {
					pb.raw.add(e, uint64(i+1), received)
				}
				pb.index = fillIndexColumns(pb.index, index)
				pb.cells = pb.cells.reuse(len(rows) + markerRows)
				for _, r := range rows {
					pb.cells.add(r)
				}
				pb.cells.marker("CDS_EVENTS", "1@bench", position{}, position{seq: uint64(len(evs))})
				pb.drill = fillDrillColumns(pb.drill, links, uint64(len(evs)), 0)
				if recycled {
					p.recycle(pb)
				}
			}
		})
	}
}
