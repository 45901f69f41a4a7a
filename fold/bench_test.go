package fold

import (
	"fmt"
	"testing"

	"github.com/bacgiang/cds/events"
)

// BenchmarkApply folds batches of 10,000 new work dossiers, the common case.
func BenchmarkApply(b *testing.B) {
	evs := make([]*events.Event, 10000)
	for i := range evs {
		evs[i] = mustEvent(b, workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i), i%3 == 0))
	}
	b.ReportAllocs()
	for b.Loop() {
		s := New()
		txn := s.Begin()
		for _, e := range evs {
			txn.Apply(e)
		}
		_ = txn.Rows()
		txn.Commit()
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}
