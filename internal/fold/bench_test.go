package fold

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/bacgiang/cds/events"
	"github.com/bacgiang/cds/internal/eventtest"
)

// BenchmarkApply folds batches of 10,000 new work dossiers, the common case.
func BenchmarkApply(b *testing.B) {
	evs := make([]*events.Event, 10000)
	for i := range evs {
		evs[i] = mustEvent(b, eventtest.Workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i), i%3 == 0))
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

// BenchmarkStateMemory reports the heap a State keeps per folded event
// (work dossiers with UUID-sized ids, the common case).
func BenchmarkStateMemory(b *testing.B) {
	const n = 200000
	evs := make([]*events.Event, n)
	for i := range evs {
		evs[i] = mustEvent(b, eventtest.Workfile(fmt.Sprintf("0193a1f4-5c2e-7d3a-9f00-%012d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("VY-2025-%06d", i), i%3 == 0))
	}
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		s := New()
		for i := 0; i < n; i += 10000 {
			txn := s.Begin()
			for _, e := range evs[i : i+10000] {
				txn.Apply(e)
			}
			txn.Commit()
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "heap-bytes/event")
		runtime.KeepAlive(s)
	}
}

// BenchmarkApplyIndexed is BenchmarkApply for an indexed State after 1M
// earlier events: Lookups, Provide (every lookup absent, as for new
// events) and Apply.
func BenchmarkApplyIndexed(b *testing.B) {
	evs := make([]*events.Event, 10000)
	for i := range evs {
		evs[i] = mustEvent(b, eventtest.Workfile(fmt.Sprintf("e%d", i), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("W%d", i), i%3 == 0))
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := NewIndexed(1000000, 100000)
		b.StartTimer()
		txn := applyBatch(b, s, evs)
		_ = txn.Rows()
		txn.Commit()
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkIndexedStateMemory reports the heap an indexed State keeps
// after folding 200k and 1M new work dossiers in batches of 10,000 (its
// generations hold 50,000 items, the projector's defaults): it does not
// grow with the log.
func BenchmarkIndexedStateMemory(b *testing.B) {
	for _, n := range []int{200000, 1000000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				s := NewIndexed(0, 50000)
				const batch = 10000
				evs := make([]*events.Event, batch)
				for i := 0; i < n; i += batch {
					for j := range evs {
						k := i + j
						evs[j] = mustEvent(b, eventtest.Workfile(fmt.Sprintf("0193a1f4-5c2e-7d3a-9f00-%012d", k), "bg-vietyen", "2025-03-01T10:00:00+07:00", fmt.Sprintf("VY-2025-%07d", k), k%3 == 0))
					}
					applyBatch(b, s, evs).Commit()
				}
				clear(evs)
				runtime.GC()
				runtime.ReadMemStats(&m1)
				b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/1e6, "heap-MB")
				b.ReportMetric(float64(s.InMemory()), "items")
				runtime.KeepAlive(s)
			}
		})
	}
}

// BenchmarkIndexedSteady folds batches of 10,000 new work dossiers into an
// indexed State already past 300k of them, as the projector's drain does
// (Lookups, Provide with every lookup absent, Apply, Rows, Commit), for
// generations of limit items: the generations' maps are what each lookup
// probes.
func BenchmarkIndexedSteady(b *testing.B) {
	const batch = 10000
	for _, limit := range []int{10000, 20000, 50000} {
		b.Run(fmt.Sprint(limit), func(b *testing.B) {
			foldSteady(b, NewIndexed(0, limit), batch)
		})
	}
}

// newDossiers returns a source of batches of batch new work dossiers, in
// 80 units, a third of them processed online, each batch's after the
// last's.
func newDossiers(tb testing.TB, batch int) func() []*events.Event {
	n := 0
	return func() []*events.Event {
		evs := make([]*events.Event, batch)
		for j := range evs {
			k := n + j
			evs[j] = mustEvent(tb, eventtest.Workfile(fmt.Sprintf("b%09d-%016x", k, k), fmt.Sprintf("bg-unit%02d", k%80), "2025-03-01T10:00:00+07:00", fmt.Sprintf("WF-%d", k), k%3 == 0))
		}
		n += batch
		return evs
	}
}

// applyBatch applies evs, new to the index (no rows provided), to an
// indexed State in one transaction, left open.
func applyBatch(tb testing.TB, s *State, evs []*events.Event) *Txn {
	tb.Helper()
	if err := s.Provide(s.Lookups(evs), nil); err != nil {
		tb.Fatal(err)
	}
	txn := s.Begin()
	for _, e := range evs {
		txn.Apply(e)
	}
	return txn
}

// BenchmarkIndexedBatch is one batch of the projector's drain in an
// indexed State past 300k events, with the links it tracks: Lookups,
// Provide (every lookup absent), Apply, Rows, Links, Index, Commit. Its
// B/op and allocs/op are the fold's garbage per batch of 10,000 events
// (docs/performance.md, "The projector's heap, third pass").
func BenchmarkIndexedBatch(b *testing.B) {
	const batch = 10000
	s := NewIndexed(0, 50000)
	s.TrackLinks()
	b.ReportAllocs()
	foldSteady(b, s, batch)
}

// foldSteady folds 30 batches of batch new dossiers into s, then times b.N
// more as the projector folds them (Lookups, Provide with every lookup
// absent, Apply, Rows, Links, Index, Commit), and reports the time per
// event.
func foldSteady(b *testing.B, s *State, batch int) {
	next := newDossiers(b, batch)
	fold := func(evs []*events.Event) {
		txn := applyBatch(b, s, evs)
		_ = txn.Rows()
		_ = txn.Links()
		_ = txn.Index()
		txn.Commit()
	}
	for range 30 {
		fold(next())
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		evs := next()
		b.StartTimer()
		fold(evs)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batch), "µs/event")
}

// BenchmarkProvideFound provides the lookups of a batch of 10,000 events
// whose keys each have two entries in the index already, as late in a
// drain when many keys are found in the store: B/op is Provide's garbage
// (and the timelines it makes, which the State keeps).
func BenchmarkProvideFound(b *testing.B) {
	const batch = 10000
	workfile := func(id string, k int) *events.Event {
		return mustEvent(b, eventtest.Workfile(id, fmt.Sprintf("bg-unit%02d", k%80), "2025-03-01T10:00:00+07:00", fmt.Sprintf("WF-%d", k), k%3 == 0))
	}
	index := map[string][]IndexRow{}
	w := NewIndexed(0, 50000)
	for round := range 2 {
		evs := make([]*events.Event, batch)
		for k := range evs {
			evs[k] = workfile(fmt.Sprintf("r%d-%09d", round, k), k)
		}
		txn := applyBatch(b, w, evs)
		for _, r := range txn.Index() {
			index[r.Lookup()] = append(index[r.Lookup()], r)
		}
		txn.Commit()
	}
	evs := make([]*events.Event, batch)
	for k := range evs {
		evs[k] = workfile(fmt.Sprintf("r2-%09d", k), k)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s := NewIndexed(0, 50000)
		need := s.Lookups(evs)
		var rows []IndexRow
		for _, l := range need {
			rows = append(rows, index[l]...)
		}
		b.StartTimer()
		if err := s.Provide(need, rows); err != nil {
			b.Fatal(err)
		}
	}
}
